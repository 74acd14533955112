//! A WASI command component. The sandbox must refuse it: it does not export the
//! `kmicro:module/handler` interface.

fn main() {
    println!("I am not a kmicro module");
}
