//! `veille compare`: agreement and accuracy between labelled files (being built; see issue 5).

use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Two or more labelled files (the first is the reference for P/R/F1).
    #[arg(required = true, num_args = 2..)]
    pub files: Vec<PathBuf>,
}

pub fn run(_args: &CompareArgs) -> Result<i32> {
    anyhow::bail!("compare is not built yet")
}
