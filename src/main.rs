//! The `veille` binary: parses the command line and hands over to the library.

use clap::Parser;
use veille::cli::{Cli, EXIT_USAGE};

fn main() {
    let cli = Cli::parse();
    veille::app::init_logging(cli.verbose);
    let code = match veille::app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("veille: error: {e:#}");
            EXIT_USAGE
        }
    };
    std::process::exit(code);
}
