//! The `tollgate` command. Everything but argument parsing lives in
//! libraries, where tests can reach it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tollgate::commands::Cli::parse();
    tollgate::commands::init_tracing();
    tollgate::commands::run(cli).unwrap_or_else(|e| {
        eprintln!("tollgate: {e:#}");
        ExitCode::from(2)
    })
}
