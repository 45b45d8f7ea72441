//! Debian's Chromium, headless, as the real reader of kfcheck's HTML report: the DOM it built
//! and every console line the page logged.

use super::{stderr, stdout, unavailable};
use std::path::{Path, PathBuf};
use std::process::Command;

/// KFCHECK_TEST_CHROMIUM (scripts/test installs Debian's chromium and sets it).
pub fn chromium() -> Option<PathBuf> {
    match std::env::var("KFCHECK_TEST_CHROMIUM") {
        Ok(c) if Path::new(&c).is_file() => Some(PathBuf::from(c)),
        _ => unavailable(
            "KFCHECK_TEST_CHROMIUM is not set: scripts/test installs Debian's chromium",
            "KFCHECK_TEST_CHROMIUM not set (apt-get install chromium)",
        ),
    }
}

/// Loads `page` in headless Chromium: (the DOM after load, the console lines it logged).
pub fn load(chromium: &Path, page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let mut c = Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,1800",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(p) => c.arg(format!("--screenshot={}", p.display())),
        None => c.arg("--dump-dom"),
    };
    let o = c
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium: {}", stderr(&o));
    let console = stderr(&o)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (stdout(&o), console)
}
