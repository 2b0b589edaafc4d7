//! The `tollgate` command. Everything but argument parsing lives in
//! libraries, where tests can reach it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tollgate::cli::Cli::parse();
    tollgate::cli::init_tracing();
    match tollgate::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
