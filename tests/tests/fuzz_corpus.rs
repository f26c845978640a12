//! The fuzz corpora as a regression test on the stable toolchain: every file of
//! `fuzz/corpus/<target>/` (the committed `seed-*` inputs, crash reproducers among them, plus
//! whatever local fuzzing added) goes through the library body of its target, which panics
//! exactly where the fuzz target would crash.

use std::{fs, panic, path::Path};

use snap_sim::fuzzing::{TARGETS, replay, syncer};

#[test]
fn every_corpus_file_replays_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for entry in fs::read_dir(&root).expect("fuzz/corpus exists") {
        let dir = entry.expect("readable").path();
        let target = dir.file_name().and_then(|name| name.to_str()).expect("utf-8").to_owned();
        assert!(TARGETS.contains(&target.as_str()), "corpus of unknown target {target}");
        let mut files: Vec<_> =
            fs::read_dir(&dir).expect("readable").map(|e| e.expect("readable").path()).collect();
        files.sort();
        assert!(
            files
                .iter()
                .any(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-"))),
            "target {target} has no committed seed"
        );
        for file in files {
            // A fuzzer running beside the test may replace files as it reduces them.
            let Ok(data) = fs::read(&file) else { continue };
            let outcome = panic::catch_unwind(|| assert!(replay(&target, &data)));
            replayed += 1;
            if outcome.is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(replayed > 0);
    assert!(failures.is_empty(), "corpus inputs that crash: {failures:#?}");
}

#[test]
fn every_target_has_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for target in TARGETS {
        assert!(root.join(target).is_dir(), "no corpus for {target}");
    }
}

/// The honest drain alone (no fuzzer operations) completes the sync and passes the end check,
/// under every value of the setup's shape byte and a spread of the others.
#[test]
fn honest_drain_completes_under_every_shape() {
    for shape in 0..=127u8 {
        let setup = [shape | 0x80, shape.wrapping_mul(37), shape.wrapping_mul(91), shape];
        syncer::run_bytes(&setup);
    }
}

/// Open findings: inputs that crash a target because of a bug not fixed yet, kept in
/// `fuzz/regressions/<target>/open-*` (outside the corpus, so that fuzzing and the smoke run do
/// not stop on them). Each must still crash; once one does not, its bug is fixed: move it into
/// `fuzz/corpus/<target>/` as `seed-crash-*`.
#[test]
fn open_findings_still_reproduce() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let Ok(targets) = fs::read_dir(&root) else { return };
    let mut fixed = Vec::new();
    for entry in targets {
        let dir = entry.expect("readable").path();
        let target = dir.file_name().and_then(|name| name.to_str()).expect("utf-8").to_owned();
        assert!(TARGETS.contains(&target.as_str()), "regressions of unknown target {target}");
        for file in fs::read_dir(&dir).expect("readable") {
            let file = file.expect("readable").path();
            let data = fs::read(&file).expect("readable");
            if panic::catch_unwind(|| replay(&target, &data)).is_ok() {
                fixed.push(file.display().to_string());
            }
        }
    }
    assert!(fixed.is_empty(), "fixed: move these into the corpus as seed-crash-*: {fixed:#?}");
}
