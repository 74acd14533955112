//! `kmicro images …`: the node's image store (`<data-dir>/agent/images-store`), used directly
//! on disk (safe while `kmicro run` uses it): import airgap archives, list, remove, pull.

mod list;
mod pull;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use kmicro_images::{ImageStore, RegistriesConfig};

/// `kmicro images …`
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// The data dir whose image store to use (`<data-dir>/agent/images-store`, mirrors and
    /// credentials from `<data-dir>/registries.yaml`).
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/kmicro",
        env = "KMICRO_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: ImagesCommand,
}

/// The images subcommands.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Import image archives (OCI archive or docker-archive; plain, gzip or zstd).
    Import {
        /// The archives.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the images: IMAGE TAG IMAGE ID SIZE.
    #[command(alias = "ls")]
    List {
        /// Only the image IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove images (a tag, a name by digest, a digest or an image ID).
    #[command(alias = "rmi", alias = "remove")]
    Rm {
        /// The images.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Pull an image from its registry (or the mirrors of registries.yaml).
    Pull(pull::PullArgs),
}

/// The store of a data dir.
pub fn store_root(data_dir: &Path) -> PathBuf {
    data_dir.join("agent").join("images-store")
}

/// Runs `kmicro images …`.
pub async fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let root = store_root(&args.data_dir);
    let store = ImageStore::open(&root)
        .with_context(|| format!("opening the image store {}", root.display()))?;
    match args.command {
        ImagesCommand::Import { files } => import(store, files).await,
        ImagesCommand::List { quiet } => {
            let images = blocking(move || store.list()).await?;
            print!("{}", list::table(&images, quiet));
            Ok(())
        }
        ImagesCommand::Rm { references } => {
            let mut failed = 0;
            for reference in references {
                let store = store.clone();
                let r = reference.clone();
                match blocking(move || store.remove(&r)).await {
                    Ok(report) => {
                        for name in &report.untagged {
                            println!("Untagged: {name}");
                        }
                        for digest in &report.deleted {
                            println!("Deleted: {digest}");
                        }
                    }
                    Err(err) => {
                        eprintln!("kmicro: removing {reference}: {err}");
                        failed += 1;
                    }
                }
            }
            anyhow::ensure!(failed == 0, "{failed} image(s) not removed");
            Ok(())
        }
        ImagesCommand::Pull(pull_args) => {
            let registries_path = args.data_dir.join("registries.yaml");
            let registries = RegistriesConfig::load(&registries_path)?;
            pull::run(store, registries, pull_args).await
        }
    }
}

async fn import(store: ImageStore, files: Vec<PathBuf>) -> anyhow::Result<()> {
    let mut failed = 0;
    for file in files {
        let store = store.clone();
        let path = file.clone();
        match blocking(move || store.import_archive(&path)).await {
            Ok(images) => {
                for image in images {
                    let name = image
                        .names
                        .first()
                        .cloned()
                        .unwrap_or_else(|| image.manifest_digest.to_string());
                    println!(
                        "{}: imported {name} ({})",
                        file.display(),
                        image.config_digest
                    );
                }
            }
            Err(err) => {
                eprintln!("kmicro: {err}");
                failed += 1;
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} archive(s) not imported");
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, kmicro_images::Error> + Send + 'static,
) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(f).await??)
}
