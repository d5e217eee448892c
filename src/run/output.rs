//! The output of a batch run (`classify`, `detect`): refuses to overwrite a file silently,
//! resumes one (`--resume`), skips the records it already holds, counts what it writes and
//! keeps the provenance manifest beside it.

use super::manifest::{manifest_path, Counts, InputFile, Manifest, Models, OutputSettings};
use super::resume::{read_existing, resumable, truncate, Existing};
use crate::record::Record;
use crate::sinks::{open_sink_with, OutputFormat, Sink, SinkOptions};
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

/// Where and how records are written (the command layer fills it from the flags).
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// None: stdout (no manifest, no resume).
    pub path: Option<PathBuf>,
    pub format: OutputFormat,
    pub csv_raw: bool,
    /// Append to what `path` holds, skipping the ids it has.
    pub resume: bool,
    /// Overwrite `path` if it exists.
    pub force: bool,
    /// `--shard K/N`, recorded in the manifest (a resumed file must keep its shard).
    pub shard: Option<String>,
}

/// What the manifest says about the run besides counts and times.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub command_line: Vec<String>,
    pub inputs: Vec<InputFile>,
    pub models: Models,
}

pub struct BatchOutput {
    sink: Box<dyn Sink + Send>,
    /// Ids (as written) already in the file, for `--resume`.
    done: HashSet<String>,
    csv_cells: bool,
    counts: Counts,
    written: usize,
    written_errors: usize,
    manifest: Option<(PathBuf, Manifest)>,
    started: Instant,
}

impl BatchOutput {
    /// Opens the output; with `--resume`, reads what it holds and cuts a torn last record.
    pub fn open(opts: &OutputOptions, provenance: Provenance) -> Result<BatchOutput> {
        let started_at = SystemTime::now();
        let settings = OutputSettings {
            format: format!("{:?}", opts.format).to_lowercase(),
            csv_raw: opts.csv_raw,
            shard: opts.shard.clone(),
        };
        // A device or pipe (`-o /dev/null`) is written like stdout: nothing to resume,
        // nowhere to put a manifest beside it.
        let special = opts
            .path
            .as_ref()
            .and_then(|p| p.metadata().ok())
            .is_some_and(|m| !m.is_file());
        if special && !opts.resume {
            let path = opts.path.as_ref().expect("checked above");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let sink = open_sink_with(opts.format, Box::new(file), &sink_options(opts, false));
            return Ok(BatchOutput::new(sink, Existing::default(), opts, None));
        }
        let Some(path) = &opts.path else {
            if opts.resume {
                bail!("--resume needs an output file (-o FILE)");
            }
            let sink = open_sink_with(
                opts.format,
                Box::new(std::io::stdout()),
                &sink_options(opts, false),
            );
            return Ok(BatchOutput::new(sink, Existing::default(), opts, None));
        };
        if opts.resume && opts.force {
            bail!("--resume and --force contradict each other: resume keeps the file, force replaces it");
        }
        if opts.resume && !resumable(opts.format) {
            bail!(
                "--resume cannot append to {} output (a file that is only whole once finished); use jsonl, csv or doccano",
                settings.format
            );
        }
        let mpath = manifest_path(path);
        let exists = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let mut existing = Existing::default();
        if exists && !opts.resume && !opts.force {
            bail!(
                "{} already exists: add --resume to continue it (skipping the records it holds) or --force to overwrite it",
                path.display()
            );
        }
        if exists && opts.resume {
            let before = Manifest::load(&mpath).with_context(|| {
                format!("--resume checks the models against {}", mpath.display())
            })?;
            if let Some(why) = before.models.mismatch(&provenance.models) {
                bail!(
                    "{} was made with other models ({why}): not resuming; write to another file or use --force",
                    path.display()
                );
            }
            if before.settings != settings {
                bail!(
                    "{} was written with other output settings ({:?}, now {:?}): not resuming",
                    path.display(),
                    before.settings,
                    settings
                );
            }
            existing = read_existing(path, opts.format)?;
            if existing.torn_bytes > 0 {
                tracing::info!(
                    "dropping a torn last record ({} bytes) from {}",
                    existing.torn_bytes,
                    path.display()
                );
                truncate(path, existing.whole_bytes)?;
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let appending = existing.whole_bytes > 0;
        let file = if appending {
            std::fs::OpenOptions::new().append(true).open(path)
        } else {
            std::fs::File::create(path)
        }
        .with_context(|| format!("cannot write {}", path.display()))?;
        let sink = open_sink_with(opts.format, Box::new(file), &sink_options(opts, appending));
        let manifest = Manifest {
            veille_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: provenance.command_line,
            output: path.display().to_string(),
            settings,
            inputs: provenance.inputs,
            models: provenance.models,
            counts: existing.counts.clone(),
            resumed_records: existing.counts.records,
            started: super::manifest::utc_timestamp(started_at),
            finished: None,
            seconds: None,
            paragraphs_per_second: None,
            complete: false,
        };
        manifest.save(&mpath)?;
        Ok(BatchOutput::new(
            sink,
            existing,
            opts,
            Some((mpath, manifest)),
        ))
    }

    fn new(
        sink: Box<dyn Sink + Send>,
        existing: Existing,
        opts: &OutputOptions,
        manifest: Option<(PathBuf, Manifest)>,
    ) -> BatchOutput {
        let counts = if existing.counts.records > 0 {
            existing.counts
        } else {
            Counts::new()
        };
        BatchOutput {
            sink,
            done: existing.ids,
            csv_cells: opts.format == OutputFormat::Csv && !opts.csv_raw,
            counts,
            written: 0,
            written_errors: 0,
            manifest,
            started: Instant::now(),
        }
    }

    /// Whether the file already holds the record with this id (`--resume`).
    pub fn is_done(&self, id: &str) -> bool {
        if self.done.is_empty() {
            return false;
        }
        if self.csv_cells {
            self.done
                .contains(crate::sinks::csv::safe_cell(id).as_ref())
        } else {
            self.done.contains(id)
        }
    }

    /// Records the file already held when the run started.
    pub fn resumed(&self) -> usize {
        self.done.len()
    }

    /// Writes a record unless the file already holds it.
    pub fn write(&mut self, r: &Record) -> Result<()> {
        if self.is_done(&r.id) {
            return Ok(());
        }
        self.sink.write(r)?;
        self.counts.add(r);
        self.written += 1;
        self.written_errors += r.is_error() as usize;
        Ok(())
    }

    /// Pushes buffered records to the file (after each group, so a kill loses little).
    pub fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Records written by this run (not counting those resumed past).
    pub fn written(&self) -> usize {
        self.written
    }

    /// Error records among them.
    pub fn written_errors(&self) -> usize {
        self.written_errors
    }

    /// Closes the output and completes the manifest.
    pub fn finish(mut self) -> Result<Counts> {
        self.sink.finish()?;
        // Dropping the sink closes the file before the manifest says it is complete.
        drop(std::mem::replace(&mut self.sink, Box::new(NoSink)));
        if let Some((path, mut m)) = self.manifest.take() {
            let seconds = self.started.elapsed().as_secs_f64();
            m.counts = self.counts.clone();
            m.finished = Some(super::manifest::utc_timestamp(SystemTime::now()));
            m.seconds = Some((seconds * 1000.0).round() / 1000.0);
            m.paragraphs_per_second =
                Some(((self.written as f64 / seconds.max(1e-9)) * 10.0).round() / 10.0);
            m.complete = true;
            m.save(&path)?;
        }
        Ok(self.counts)
    }
}

fn sink_options(opts: &OutputOptions, appending: bool) -> SinkOptions {
    SinkOptions {
        csv_raw: opts.csv_raw,
        appending,
    }
}

/// Stands in for the closed sink.
struct NoSink;

impl Sink for NoSink {
    fn write(&mut self, _: &Record) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}
