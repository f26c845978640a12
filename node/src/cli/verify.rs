//! `snap verify`: recompute the root from a store and check it.

use std::{path::PathBuf, process::ExitCode, time::Instant};

use snap_store::{VerifyReport, verify};

use super::shared::CliResult;

/// Arguments of `snap verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    datadir: PathBuf,
}

/// Whether a report shows a complete, consistent state.
pub(crate) fn passed(report: &VerifyReport) -> bool {
    report.mismatches == 0 && report.stored_root == Some(report.computed_root)
}

/// Prints what verification found.
pub(crate) fn print_report(report: &VerifyReport, seconds: f64) {
    println!(
        "verify: root {} ({} accounts, {} slots in {} storage tries, {} codes, {} trie nodes) in {seconds:.2} s",
        report.computed_root,
        report.accounts,
        report.slots,
        report.storage_tries,
        report.codes,
        report.nodes
    );
    if passed(report) {
        println!("verify: OK, the stored trie and the flat state agree");
    } else {
        println!(
            "verify: FAILED, stored root {:?}, {} mismatches; first: {:?}",
            report.stored_root, report.mismatches, report.listed
        );
    }
}

pub(crate) fn run(args: &VerifyArgs) -> CliResult {
    if !args.datadir.is_dir() {
        return Err(format!("{} is not a directory", args.datadir.display()));
    }
    let store = super::shared::open_store(&args.datadir)?;
    let started = Instant::now();
    let report = verify(&store).map_err(|e| e.to_string())?;
    print_report(&report, started.elapsed().as_secs_f64());
    Ok(if passed(&report) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
