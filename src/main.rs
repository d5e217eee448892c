//! The `veille` binary: parses the command line and hands over to the library.

use clap::Parser;
use veille::cli::{Cli, EXIT_USAGE};

fn main() {
    let cli = Cli::parse();
    veille::app::init_logging(cli.verbose);
    let code = match veille::app::run(cli) {
        Ok(code) => code,
        // A reader that went away (`veille ... | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("veille: error: {e:#}");
            EXIT_USAGE
        }
    };
    std::process::exit(code);
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
            // serde_json wraps the write error of a record that no longer fits the buffer.
            || c.downcast_ref::<serde_json::Error>().is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
