//! The load test, short and bounded (the full run is documented in docs/benchmarks.md): the
//! service survives swaps and rotations under traffic with no failed request and no lost write.

use std::process::Command;

#[test]
fn short_load_test_loses_nothing_through_swaps_and_rotations() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--requests",
            "1500",
            "--clients",
            "4",
            "--swaps",
            "4",
            "--spacing-ms",
            "300",
        ])
        .args([
            "--time-limit",
            "300",
            "--signup",
            env!("CARGO_BIN_EXE_signup"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let field = |name: &str| -> u64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {stdout}"));
        line[name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(field("requests sent:") >= 1500, "{stdout}");
    assert_eq!(
        field("acknowledged writes:"),
        field("requests sent:"),
        "{stdout}"
    );
    assert!(stdout.contains("requests failed:      0"), "{stdout}");
    assert!(stdout.contains("swaps and rotations:  4"), "{stdout}");
    assert!(stdout.contains("writes not found:     0"), "{stdout}");
    assert!(!stdout.contains("planted-") && !stderr.contains("planted-"));
}
