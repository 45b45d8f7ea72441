//! The door matrix: the runs of kfcheck's own samples by door (rest: the KFP REST API; notebook:
//! a notebook server's kernel; argo: raw YAML applied to Kubernetes) and mode (cpu, gpu), and one
//! diagnosis line for each pattern of passes and failures that points at a part of the platform.
//! A door that was not run, or that could not decide (skipped, errored), is never read as a pass
//! or a failure: a pattern only uses the cells that decided.

use super::result::{CheckResult, DoorRun, RunReport, Status};

impl RunReport {
    /// The door × mode matrix of the run (see [`DoorMatrix::of`]).
    pub fn door_matrix(&self) -> Option<DoorMatrix> {
        DoorMatrix::of(&self.doors, &self.results)
    }
}

/// The doors and modes in the order the matrix shows them.
pub const DOORS: [&str; 3] = ["rest", "notebook", "argo"];
pub const MODES: [&str; 2] = ["cpu", "gpu"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    Passed,
    Failed,
    /// Every check of the cell was skipped or errored.
    Undecided,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Passed => "passed",
            CellState::Failed => "failed",
            CellState::Undecided => "undecided",
        }
    }

    fn of(s: Status) -> CellState {
        match s {
            Status::Passed | Status::Warned => CellState::Passed,
            Status::Failed | Status::TimedOut => CellState::Failed,
            Status::Skipped | Status::Errored => CellState::Undecided,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub door: &'static str,
    pub mode: &'static str,
    pub state: CellState,
    /// The checks of this cell with their statuses, e.g. `kfp-cpu-sample failed`.
    pub checks: Vec<(String, Status)>,
}

/// A pattern of the matrix and what it points at (`kfcheck explain ID`).
#[derive(Debug)]
pub struct Pattern {
    pub id: &'static str,
    /// The passes and failures that make it.
    pub when: &'static str,
    /// Where the fault is.
    pub points_to: &'static str,
    /// What to read first.
    pub look_at: &'static str,
}

pub static PATTERNS: [Pattern; 6] = [
    Pattern {
        id: "doors-everything-fails",
        when: "every door that decided fails, in every mode that ran (at least two cells)",
        points_to: "Kubernetes or Argo itself: the workflow-controller, the scheduler, the nodes or the images, below KFP and below the notebooks",
        look_at: "the raw-YAML door's finding (argo-cpu-sample) first: it has the fewest parts; then the step pods' events and the workflow-controller's log",
    },
    Pattern {
        id: "doors-gpu-only",
        when: "CPU passes through every door that decided and GPU fails through every door that decided",
        points_to: "the GPU infrastructure: the NVIDIA device plugin, drivers, GPU node taints and labels, or the GPU quota",
        look_at: "gpu-inventory and gpu-schedulable, and the GPU step's PodScheduled message in the failed check's evidence",
    },
    Pattern {
        id: "doors-rest-fails",
        when: "raw YAML (argo) passes but the REST door fails in the same mode",
        points_to: "the KFP API server and what stands in front of it: its auth (Dex, oauth2-proxy, the Istio gateway), the profile controller's KFP setup in the profile, or in GPU mode the SDK/backend turning the compiled GPU request into pods; Argo and the nodes work",
        look_at: "the REST check's finding; kfp-api-healthy, kfp-deployments and profile-matrix; in GPU mode the launched pod against the compiled spec",
    },
    Pattern {
        id: "doors-argo-fails",
        when: "the REST door passes but raw YAML (argo) fails in the same mode",
        points_to: "what a raw run needs that the KFP API server gives its own runs: the ServiceAccount's workflowtaskresults rights, Istio's sidecar annotation, the controller's instanceID or namespace",
        look_at: "the argo check's finding (argo-taskresult-rbac, argo-sidecar-keeps-pod, argo-controllers-overlap, argo-controller-not-acting)",
    },
    Pattern {
        id: "doors-notebook-fails",
        when: "the REST door passes but the notebook door fails in the same mode",
        points_to: "notebook access to KFP: the access-ml-pipeline PodDefault and its token, Istio between the notebook and ml-pipeline, or the notebook image's kfp version",
        look_at: "the notebook check's finding and the profile's PodDefaults (profile-matrix)",
    },
    Pattern {
        id: "doors-not-located",
        when: "something fails but no pattern above fits, or too few doors decided to compare",
        points_to: "not located by the doors alone",
        look_at: "the failed checks' findings; run the other doors too (kfcheck -n PROFILE run kfp notebook argo) so the matrix can compare them",
    },
];

pub fn find_pattern(id: &str) -> Option<&'static Pattern> {
    PATTERNS.iter().find(|p| p.id == id)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub pattern: &'static str,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorMatrix {
    /// Door-major, in DOORS × MODES order; only the cells some selected check covers.
    pub cells: Vec<Cell>,
    pub diagnoses: Vec<Diagnosis>,
}

fn door_words(door: &str) -> &'static str {
    match door {
        "rest" => "the REST door",
        "notebook" => "the notebook door",
        _ => "raw YAML",
    }
}

impl DoorMatrix {
    /// The matrix of a run, when its checks cover at least two cells (one cell compares nothing)
    /// and one of them decided (a matrix of skipped checks says nothing the table does not).
    pub fn of(runs: &[DoorRun], results: &[CheckResult]) -> Option<DoorMatrix> {
        let mut cells = Vec::new();
        for door in DOORS {
            for mode in MODES {
                let checks: Vec<(String, Status)> = runs
                    .iter()
                    .filter(|r| r.door == door && r.mode == mode)
                    .filter_map(|r| results.iter().find(|c| c.id == r.check))
                    .map(|c| (c.id.clone(), c.status))
                    .collect();
                if checks.is_empty() {
                    continue;
                }
                let states: Vec<CellState> =
                    checks.iter().map(|(_, s)| CellState::of(*s)).collect();
                let state = if states.contains(&CellState::Failed) {
                    CellState::Failed
                } else if states.contains(&CellState::Passed) {
                    CellState::Passed
                } else {
                    CellState::Undecided
                };
                cells.push(Cell {
                    door,
                    mode,
                    state,
                    checks,
                });
            }
        }
        if cells.len() < 2 || cells.iter().all(|c| c.state == CellState::Undecided) {
            return None;
        }
        let diagnoses = diagnose(&cells);
        Some(DoorMatrix { cells, diagnoses })
    }

    pub fn cell(&self, door: &str, mode: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.door == door && c.mode == mode)
    }
}

fn shown(cells: &[&Cell]) -> String {
    cells
        .iter()
        .flat_map(|c| c.checks.iter())
        .map(|(id, s)| format!("{id} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn diagnose(cells: &[Cell]) -> Vec<Diagnosis> {
    let decided: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.state != CellState::Undecided)
        .collect();
    let failed = |c: &&Cell| c.state == CellState::Failed;
    if !decided.iter().any(failed) {
        return Vec::new();
    }
    let line = |p: &'static str, text: String| {
        let pattern = find_pattern(p).expect("a registered pattern");
        Diagnosis {
            pattern: p,
            line: format!("{text}: {}", pattern.points_to),
        }
    };
    if decided.len() >= 2 && decided.iter().all(failed) {
        return vec![line(
            "doors-everything-fails",
            format!("every door fails in every mode [{}]", shown(&decided)),
        )];
    }
    let of_mode =
        |m: &str| -> Vec<&Cell> { decided.iter().copied().filter(|c| c.mode == m).collect() };
    let (cpu, gpu) = (of_mode("cpu"), of_mode("gpu"));
    if !cpu.is_empty() && !gpu.is_empty() && !cpu.iter().any(failed) && gpu.iter().all(failed) {
        return vec![line(
            "doors-gpu-only",
            format!(
                "CPU passes and GPU fails through every door that ran [{}]",
                shown(&decided)
            ),
        )];
    }
    let state = |d: &str, m: &str| {
        decided
            .iter()
            .find(|c| c.door == d && c.mode == m)
            .map(|c| (c.state, *c))
    };
    // (pattern, door that passes, door that fails)
    let pairs = [
        ("doors-rest-fails", "argo", "rest"),
        ("doors-argo-fails", "rest", "argo"),
        ("doors-notebook-fails", "rest", "notebook"),
    ];
    let mut out = Vec::new();
    for (pattern, good, bad) in pairs {
        let mut modes = Vec::new();
        let mut seen = Vec::new();
        for m in MODES {
            if let (Some((CellState::Passed, g)), Some((CellState::Failed, b))) =
                (state(good, m), state(bad, m))
            {
                modes.push(m);
                seen.extend([g, b]);
            }
        }
        if !modes.is_empty() {
            out.push(line(
                pattern,
                format!(
                    "{} passes but {} fails ({}) [{}]",
                    door_words(good),
                    door_words(bad),
                    modes.join(", "),
                    shown(&seen)
                ),
            ));
        }
    }
    if out.is_empty() {
        let failing: Vec<&Cell> = decided.iter().copied().filter(|c| failed(c)).collect();
        out.push(line(
            "doors-not-located",
            format!("failures no pattern explains [{}]", shown(&failing)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, status: Status) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: String::new(),
            category: String::new(),
            kind: "pipeline-run".into(),
            status,
            duration_ms: 0,
            reason: None,
            findings: vec![],
            problems: vec![],
            notes: vec![],
            suppressed: vec![],
            figures: None,
        }
    }

    /// (door, mode, status) → the matrix's diagnosis patterns.
    fn patterns(cells: &[(&'static str, &'static str, Status)]) -> Vec<&'static str> {
        let runs: Vec<DoorRun> = cells
            .iter()
            .map(|(d, m, _)| DoorRun {
                check: format!("{d}-{m}"),
                door: d,
                mode: m,
            })
            .collect();
        let results: Vec<CheckResult> = cells
            .iter()
            .map(|(d, m, s)| result(&format!("{d}-{m}"), *s))
            .collect();
        DoorMatrix::of(&runs, &results)
            .map(|m| m.diagnoses.iter().map(|d| d.pattern).collect())
            .unwrap_or_default()
    }

    use Status::{Errored, Failed, Passed, Skipped, TimedOut, Warned};

    #[test]
    fn each_pattern_comes_from_its_combination() {
        let all_pass = [
            ("rest", "cpu", Passed),
            ("rest", "gpu", Warned),
            ("notebook", "cpu", Passed),
            ("argo", "gpu", Passed),
        ];
        assert!(patterns(&all_pass).is_empty());
        assert_eq!(
            patterns(&[
                ("rest", "cpu", Failed),
                ("notebook", "cpu", Failed),
                ("argo", "cpu", TimedOut),
                ("argo", "gpu", Failed),
            ]),
            ["doors-everything-fails"]
        );
        assert_eq!(
            patterns(&[
                ("rest", "cpu", Passed),
                ("rest", "gpu", Failed),
                ("argo", "cpu", Passed),
                ("argo", "gpu", Failed),
                ("notebook", "gpu", Skipped),
            ]),
            ["doors-gpu-only"]
        );
        assert_eq!(
            patterns(&[
                ("rest", "cpu", Failed),
                ("argo", "cpu", Passed),
                ("rest", "gpu", Failed),
                ("argo", "gpu", Passed),
            ]),
            ["doors-rest-fails"]
        );
        assert_eq!(
            patterns(&[
                ("rest", "cpu", Passed),
                ("argo", "cpu", Failed),
                ("notebook", "cpu", Passed),
            ]),
            ["doors-argo-fails"]
        );
        assert_eq!(
            patterns(&[
                ("rest", "cpu", Passed),
                ("notebook", "cpu", Failed),
                ("argo", "cpu", Passed),
            ]),
            ["doors-notebook-fails"]
        );
    }

    #[test]
    fn undecided_cells_are_neither_passes_nor_failures() {
        // REST failed; the only other door could not decide: nothing to compare with.
        assert_eq!(
            patterns(&[("rest", "cpu", Failed), ("argo", "cpu", Errored)]),
            ["doors-not-located"]
        );
        // Every decided cell fails, but there is only one: not "everything fails".
        assert_eq!(
            patterns(&[
                ("rest", "cpu", Failed),
                ("notebook", "cpu", Skipped),
                ("argo", "cpu", Skipped),
            ]),
            ["doors-not-located"]
        );
        // Nothing decided: no matrix at all (as with no cluster).
        assert!(patterns(&[("rest", "cpu", Skipped), ("argo", "cpu", Errored)]).is_empty());
        let undecided = [
            DoorRun {
                check: "a".into(),
                door: "rest",
                mode: "cpu",
            },
            DoorRun {
                check: "b".into(),
                door: "argo",
                mode: "cpu",
            },
        ];
        assert!(
            DoorMatrix::of(&undecided, &[result("a", Skipped), result("b", Errored)]).is_none()
        );
        // One cell: no matrix.
        assert!(DoorMatrix::of(
            &[DoorRun {
                check: "a".into(),
                door: "rest",
                mode: "cpu"
            }],
            &[result("a", Failed)]
        )
        .is_none());
    }

    #[test]
    fn a_line_names_the_checks_it_read_and_where_the_fault_is() {
        let runs = [
            DoorRun {
                check: "kfp-cpu-sample".into(),
                door: "rest",
                mode: "cpu",
            },
            DoorRun {
                check: "argo-cpu-sample".into(),
                door: "argo",
                mode: "cpu",
            },
        ];
        let m = DoorMatrix::of(
            &runs,
            &[
                result("kfp-cpu-sample", Failed),
                result("argo-cpu-sample", Passed),
            ],
        )
        .unwrap();
        let l = &m.diagnoses[0].line;
        assert!(
            l.starts_with("raw YAML passes but the REST door fails (cpu) [argo-cpu-sample passed, kfp-cpu-sample failed]: the KFP API server"),
            "{l}"
        );
        assert_eq!(m.cell("rest", "cpu").unwrap().state, CellState::Failed);
        assert!(m.cell("notebook", "cpu").is_none());
    }

    #[test]
    fn every_pattern_is_documented() {
        for p in &PATTERNS {
            assert!(p.id.starts_with("doors-"));
            assert!(!p.when.is_empty() && !p.points_to.is_empty() && !p.look_at.is_empty());
        }
    }
}
