//! `kmicro module …`: Modules managed over the Kubernetes API, locally or remotely with a
//! kubeconfig: list, load (create and upload), swap (upload and wait), unload, export, logs.

mod api;
mod list;
mod source;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

/// `kmicro module …`
#[derive(Debug, Args)]
pub struct ModuleArgs {
    /// The kubeconfig to use: `--kubeconfig`, else `$KUBECONFIG` (its first file), else the
    /// admin kubeconfig `kmicro run` writes in its data dir.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The data dir whose admin kubeconfig is the default.
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/kmicro",
        env = "KMICRO_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: ModuleCommand,
}

/// The module subcommands.
#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// List the modules: NAME PHASE VERSION RESTARTS MEMORY AGE.
    #[command(alias = "ls")]
    List,
    /// Create a module and upload its component.
    Load(LoadArgs),
    /// Upload a new component for a module and wait until it runs.
    Swap(SwapArgs),
    /// Delete a module.
    #[command(alias = "delete")]
    Unload {
        /// The module.
        name: String,
    },
    /// Save a module's component to a file.
    Export {
        /// The module.
        name: String,
        /// Where to write it (`-` for standard output).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Print a module's log.
    Logs {
        /// The module.
        name: String,
        /// Keep printing new lines until the module is unloaded or Ctrl-C.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
    },
}

/// `kmicro module load`
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The module's name.
    pub name: String,
    /// The component (`.wasm`, built for wasm32-wasip2).
    pub file: PathBuf,
    /// Configuration handed to the module's init: JSON, or `@FILE` to read it from a file.
    #[arg(long)]
    pub config: Option<String>,
    /// The memory limit (a quantity such as `32Mi`).
    #[arg(long)]
    pub memory: Option<String>,
}

/// `kmicro module swap`
#[derive(Debug, Args)]
pub struct SwapArgs {
    /// The module.
    pub name: String,
    /// The new component.
    pub file: PathBuf,
    /// How long to wait for the new component to run.
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Do not wait: print the new digest and return.
    #[arg(long)]
    pub no_wait: bool,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    kmicro_apimachinery::duration::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 30s or 2m"))
}

/// Runs `kmicro module …`.
pub async fn run(args: ModuleArgs) -> anyhow::Result<()> {
    let kubeconfig = api::kubeconfig_path(args.kubeconfig.as_deref(), &args.data_dir);
    let client = api::Modules::connect(&kubeconfig).await?;
    match args.command {
        ModuleCommand::List => list::run(&client).await,
        ModuleCommand::Load(load) => source::load(&client, load).await,
        ModuleCommand::Swap(swap) => source::swap(&client, swap).await,
        ModuleCommand::Unload { name } => {
            client.delete(&name).await?;
            println!("module {name} unloaded");
            Ok(())
        }
        ModuleCommand::Export { name, output } => source::export(&client, &name, &output).await,
        ModuleCommand::Logs { name, follow, tail } => client.logs(&name, follow, tail).await,
    }
}
