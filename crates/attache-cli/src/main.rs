//! The `attache` command. Arguments → settings → command → findings → renderer; the logic
//! lives in the library.

mod args;
mod audit;
mod explain;
mod grants;
mod render;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <args::Args as clap::Parser>::parse();
    match args.command {
        args::Command::Audit(a) => audit::run(a),
        args::Command::Grants(g) => grants::run(g),
        args::Command::Explain(e) => explain::run(e),
    }
}
