//! JUnit XML for CI systems: one test suite per category, one test case per check.

use crate::model::matrix::{CellState, DoorMatrix};
use crate::model::{CheckResult, ExitStatus, RunReport, Status};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::time::Duration;

fn describe(c: &CheckResult) -> String {
    let mut lines = Vec::new();
    for f in &c.findings {
        let mut l = format!(
            "[{}] {} {}: {}",
            f.severity,
            f.subject.display(),
            f.rule,
            f.message
        );
        for e in &f.evidence {
            l.push_str(&format!("\n    {}: {}", e.key, e.observed));
            if let Some(x) = &e.expected {
                l.push_str(&format!(" (expected {x})"));
            }
        }
        l.push_str(&format!("\n    fix: {}", f.remediation));
        if let Some(o) = &f.owner {
            l.push_str(&format!("\n    owner: {o}"));
        }
        lines.push(l);
    }
    for p in &c.problems {
        lines.push(format!(
            "[could not decide] {}: {}",
            p.subject.display(),
            p.message
        ));
    }
    lines.join("\n")
}

/// The door matrix as a `doors` suite: one case per door and mode (`rest/cpu`), a failed cell
/// carrying the diagnosis lines, and each diagnosis as a `diagnosis` property of the suite.
fn doors_suite(m: &DoorMatrix) -> TestSuite {
    let mut suite = TestSuite::new("doors");
    let lines: Vec<String> = m
        .diagnoses
        .iter()
        .map(|d| format!("{} ({})", d.line, d.pattern))
        .collect();
    for d in &m.diagnoses {
        suite.add_property(("diagnosis", format!("{}: {}", d.pattern, d.line).as_str()));
    }
    for c in &m.cells {
        let checks: Vec<String> = c.checks.iter().map(|(id, s)| format!("{id} {s}")).collect();
        let status = match c.state {
            CellState::Passed => TestCaseStatus::success(),
            CellState::Undecided => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("undecided: {}", checks.join(", ")));
                s
            }
            CellState::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("failed: {}", checks.join(", ")));
                s.set_type("failed");
                s.set_description(lines.join("\n"));
                s
            }
        };
        let mut case = TestCase::new(format!("{}/{}", c.door, c.mode), status);
        case.set_classname("kfcheck.doors");
        suite.add_test_case(case);
    }
    suite
}

/// `exit` is the run's exit status: an undecided run adds one errored `verdict` case to a
/// `kfcheck` suite, so a CI system that only counts failures and errors never reads a run that
/// could not reach its cluster (its checks skipped) as green.
pub fn render_junit(report: &RunReport, exit: ExitStatus) -> String {
    render_junit_with(report, exit, false)
}

/// One test case per pipeline file a lint check inspected (`figures.lint_files`): a file with an
/// error finding fails, one with a problem errors, the others pass (warnings as system-out);
/// findings of no listed file stay on one case named after the check.
fn per_file_suite(c: &CheckResult, files: &[String]) -> TestSuite {
    let mut suite = TestSuite::new(c.id.clone());
    let of = |file: Option<&str>| CheckResult {
        findings: c
            .findings
            .iter()
            .filter(|f| f.subject.file.as_deref() == file)
            .cloned()
            .collect(),
        problems: c
            .problems
            .iter()
            .filter(|p| p.subject.file.as_deref() == file)
            .cloned()
            .collect(),
        ..c.clone()
    };
    let mut rest = c.clone();
    rest.findings
        .retain(|f| !f.subject.file.as_ref().is_some_and(|x| files.contains(x)));
    rest.problems
        .retain(|p| !p.subject.file.as_ref().is_some_and(|x| files.contains(x)));
    let cases = files.iter().map(|f| (f.clone(), of(Some(f)))).chain(
        (!rest.findings.is_empty() || !rest.problems.is_empty()).then(|| (c.id.clone(), rest)),
    );
    for (name, part) in cases {
        let errors = part
            .findings
            .iter()
            .filter(|f| f.severity == crate::model::Severity::Error)
            .count();
        let status = if errors > 0 {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{errors} finding(s) failed the file"));
            s.set_type("failed");
            s.set_description(describe(&part));
            s
        } else if !part.problems.is_empty() {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message("could not decide");
            s.set_type("errored");
            s.set_description(describe(&part));
            s
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(format!("kfcheck.{}", c.id));
        if errors == 0 && !part.findings.is_empty() {
            case.set_system_out(describe(&part));
        }
        suite.add_test_case(case);
    }
    suite
}

/// [`render_junit`]; with `per_file`, lint checks get a test case per pipeline file.
pub fn render_junit_with(report: &RunReport, exit: ExitStatus, per_file: bool) -> String {
    let mut junit = Report::new("kfcheck");
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    let mut file_suites = Vec::new();
    for c in &report.results {
        let files: Option<Vec<String>> = c
            .figures
            .as_ref()
            .and_then(|f| f.get("lint_files"))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        if let (true, Some(files), false) = (per_file, files, c.status == Status::Skipped) {
            file_suites.push(per_file_suite(c, &files));
            continue;
        }
        let status = match c.status {
            Status::Passed | Status::Warned => TestCaseStatus::success(),
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(c.reason.clone().unwrap_or_default());
                s
            }
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let n = c
                    .findings
                    .iter()
                    .filter(|f| f.severity == crate::model::Severity::Error)
                    .count();
                s.set_message(format!("{n} finding(s) failed the check"));
                s.set_type("failed");
                s.set_description(describe(c));
                s
            }
            Status::Errored | Status::TimedOut => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(
                    c.reason
                        .clone()
                        .unwrap_or_else(|| c.status.as_str().to_string()),
                );
                s.set_type(c.status.as_str());
                s.set_description(describe(c));
                s
            }
        };
        let mut case = TestCase::new(c.id.clone(), status);
        case.set_classname(format!("kfcheck.{}", c.category));
        case.set_time(Duration::from_millis(c.duration_ms));
        if c.status == Status::Warned {
            case.set_system_out(describe(c));
        }
        suites
            .entry(&c.category)
            .or_insert_with(|| TestSuite::new(c.category.clone()))
            .add_test_case(case);
    }
    junit.add_test_suites(suites.into_values());
    junit.add_test_suites(file_suites);
    if let Some(m) = report.door_matrix() {
        junit.add_test_suite(doors_suite(&m));
    }
    if exit == ExitStatus::Undecided {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(
            crate::model::verdict_reason(report, exit)
                .unwrap_or_else(|| "nothing failed, but some checks could not decide".into()),
        );
        s.set_type("undecided");
        let mut case = TestCase::new("verdict", s);
        case.set_classname("kfcheck.verdict");
        let mut suite = TestSuite::new("kfcheck");
        suite.add_test_case(case);
        junit.add_test_suite(suite);
    }
    junit.set_time(Duration::from_millis(report.duration_ms));
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- failed to render JUnit XML: {e} -->\n"))
}
