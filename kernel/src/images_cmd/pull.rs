//! `kmicro images pull`: a progress bar on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kmicro_images::{
    DOCKER_CONFIG_JSON_TYPE, ImageStore, LayerProgress, Platform, PullSecrets, Puller,
    RegistriesConfig,
};

/// `kmicro images pull`
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image (`busybox`, `registry:5000/app:v1`, `app@sha256:…`).
    pub reference: String,
    /// Credentials for the image's registry, `USERNAME:PASSWORD`.
    #[arg(long)]
    pub creds: Option<String>,
    /// Resolve multi-arch images for this platform (`linux/arm/v7`) instead of this machine's.
    #[arg(long)]
    pub platform: Option<String>,
}

/// Pulls, showing progress.
pub async fn run(
    store: ImageStore,
    registries: RegistriesConfig,
    args: PullArgs,
) -> anyhow::Result<()> {
    let mut puller = Puller::new(store, registries);
    if let Some(platform) = &args.platform {
        puller = puller.with_platform(Platform::parse(platform)?);
    }
    let mut secrets = PullSecrets::new();
    if let Some(creds) = &args.creds {
        let (user, password) = creds
            .split_once(':')
            .context("--creds must be USERNAME:PASSWORD")?;
        let reference = kmicro_images::ImageRef::parse(&args.reference)?;
        let mut auths = serde_json::Map::new();
        auths.insert(
            reference.registry,
            serde_json::json!({"username": user, "password": password}),
        );
        let json = serde_json::json!({ "auths": auths });
        let data = [(
            ".dockerconfigjson".to_owned(),
            json.to_string().into_bytes(),
        )]
        .into();
        secrets.add_secret(DOCKER_CONFIG_JSON_TYPE, &data, "--creds")?;
    }
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?
        .progress_chars("=> "),
    );
    bar.set_message(format!("pulling {}", args.reference));
    // The store's progress callback must be `'static`: it owns its state.
    let layers: Mutex<HashMap<String, (u64, u64)>> = Mutex::default();
    let progress_bar = bar.clone();
    let progress = move |p: &LayerProgress| {
        let bar = &progress_bar;
        let Ok(mut layers) = layers.lock() else {
            return;
        };
        let previous = layers.insert(p.digest.to_string(), (p.done, p.total));
        let total: u64 = layers.values().map(|(_, t)| t).sum();
        let done: u64 = layers.values().map(|(d, _)| d).sum();
        bar.set_length(total);
        bar.set_position(done);
        if !terminal && p.done == p.total && previous.is_none_or(|(d, _)| d != p.done) {
            let how = if p.cached { "already present" } else { "done" };
            eprintln!("{}: {} bytes, {how}", p.digest.short(), p.total);
        }
    };
    let started = Instant::now();
    let result = puller
        .pull(&args.reference, &secrets, Some(&progress))
        .await;
    bar.finish_and_clear();
    let outcome = result?;
    println!(
        "{}",
        outcome.pulled_message(&args.reference, started.elapsed())
    );
    println!("Image is up to date for {}", outcome.image.config_digest);
    Ok(())
}
