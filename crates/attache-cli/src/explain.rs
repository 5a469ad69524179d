//! `attache explain`.

use std::process::ExitCode;

use attache::CheckId;

use crate::args::ExplainArgs;

pub(crate) fn run(args: ExplainArgs) -> ExitCode {
    match args.check {
        None => {
            for check in CheckId::ALL {
                let title = check.page().lines().next().unwrap_or_default();
                let title = title
                    .trim_start_matches("# ")
                    .split_once(" — ")
                    .map_or(title, |(_, t)| t);
                println!("{:<26} {title}", check.as_str());
            }
            ExitCode::SUCCESS
        }
        Some(id) => match id.parse::<CheckId>() {
            Ok(check) => {
                print!("{}", attache::registry().page(check));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("attache: {e}");
                ExitCode::from(2)
            }
        },
    }
}
