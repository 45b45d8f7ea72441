//! One door-neutral account of a run (what was submitted, whether it finished, each step's
//! state, exit, message, pod and node, whether a GPU was seen, timings) and the one verdict
//! function that judges it, whichever door ran it: so that the doors can be compared line by
//! line. Pure.

use crate::clients::kfp_spec::RunState;
use crate::model::{Evidence, Finding, FindingRule, Severity, Subject};
use std::time::Duration;

/// The findings [`verdict`] can report, for the kinds that run a door.
pub static RUN_RULES: &[FindingRule] = &RUN_RULE_LIST;
/// [`RUN_RULES`] as an array, for tables that add a door's own rules.
pub const RUN_RULE_LIST: [FindingRule; 2] = [
    FindingRule {
        id: "run-not-finished",
        default_severity: Severity::Error,
        summary: "the run did not finish in time",
        fix: "Look at the run's pods: a Pending pod usually means no node fits its resources, selector or tolerations; the run was terminated and deleted.",
    },
    FindingRule {
        id: "run-failed",
        default_severity: Severity::Error,
        summary: "the run failed (the failing step is named)",
        fix: "Read the failed step's logs (the pod in the evidence, or the run's pods by label) and fix what it reports; resubmit with `kfcheck run` to confirm.",
    },
];

/// One step (task) of a run as a door saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub name: String,
    pub state: RunState,
    /// The state as the door reported it (`FAILED`, `Error`).
    pub state_text: String,
    /// Has no child steps (a DAG fails because of its children).
    pub leaf: bool,
    pub exit_code: Option<i32>,
    /// What the step's error said, redacted.
    pub message: Option<String>,
    pub pod: Option<String>,
    pub node: Option<String>,
}

/// A run as a door saw it, from submission to the last look.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The door that ran it (`rest`).
    pub door: &'static str,
    /// The run's name and id, as shown (`kfcheck-x (r1)`).
    pub run: String,
    pub run_id: String,
    /// In a terminal state before the deadline.
    pub finished: bool,
    pub state: RunState,
    /// The run's own error message, redacted.
    pub message: Option<String>,
    pub steps: Vec<StepResult>,
    /// Whether some step got a pod on a node; `None` where the door cannot tell.
    pub scheduled: Option<bool>,
    /// Whether a step saw a GPU; `None` where the door cannot tell.
    pub gpu_seen: Option<bool>,
    /// The GPU sample step's probe line (`kfcheck probe gpu --load`), where the step ran the
    /// probe and the door can read its output.
    pub gpu_probe: Option<serde_json::Value>,
    /// From submission to the last look.
    pub waited: Duration,
    pub polls: u32,
    /// The label selector of the run's pods (`pipeline/runid=r1`), for the fix text.
    pub pods: String,
    /// What kept the door from running the sample at all (a notebook's kernel without kfp, say):
    /// the finding, whatever the run fields say.
    pub failure: Option<DoorFault>,
    /// What the door noticed besides the run (a cleanup it could not finish), for the check's
    /// notes.
    pub notes: Vec<String>,
}

/// A door's own finding, before or instead of a run's state.
#[derive(Debug, Clone, PartialEq)]
pub struct DoorFault {
    pub rule: &'static str,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub fix: String,
}

/// How a run ended, as a finding (not ready) or a note (it worked).
pub fn verdict(
    r: &RunResult,
    subject: Subject,
    severity: Severity,
    what: &str,
) -> Result<String, Box<Finding>> {
    if let Some(f) = &r.failure {
        return Err(Box::new(Finding::new(
            f.rule,
            severity,
            subject,
            format!("{what}: {}", f.message),
            f.evidence.clone(),
            f.fix.clone(),
        )));
    }
    let run_ev = Evidence::new("run", r.run.clone());
    let secs = format!("{:.2}s", r.waited.as_secs_f64());
    if !r.finished {
        let going: Vec<String> = r
            .steps
            .iter()
            .filter(|s| s.leaf && !s.state.is_terminal())
            .map(|s| format!("{} {}", s.name, s.state.as_str()))
            .collect();
        return Err(Box::new(Finding::new(
            "run-not-finished",
            severity,
            subject,
            format!("{what} did not finish in time"),
            vec![
                Evidence::new("state", r.state.as_str()).expected("SUCCEEDED"),
                Evidence::new("waited", secs),
                Evidence::new(
                    "unfinished tasks",
                    if going.is_empty() { "none started".to_string() } else { going.join(", ") },
                ),
                run_ev,
            ],
            format!("Look at the run's pods (label {}): a Pending pod usually means no node fits its resources, selector or tolerations; the run was terminated and deleted.", r.pods),
        )));
    }
    if r.state == RunState::Succeeded {
        return Ok(format!(
            "{what}: run {} succeeded in {secs} ({} task(s))",
            r.run_id,
            r.steps.iter().filter(|s| s.leaf).count()
        ));
    }
    // The failing step: a failed leaf (a DAG fails because of its children), else any failed one.
    let failed = r
        .steps
        .iter()
        .filter(|s| s.state == RunState::Failed)
        .min_by_key(|s| !s.leaf);
    let mut ev = vec![Evidence::new("state", r.state.as_str()).expected("SUCCEEDED")];
    let message = match (r.state, failed) {
        (RunState::Failed, Some(s)) => {
            ev.push(Evidence::new("failed task", s.name.clone()));
            ev.push(Evidence::new("task state", s.state_text.clone()));
            if let Some(code) = s.exit_code {
                ev.push(Evidence::new("exit code", code.to_string()));
            }
            if let Some(m) = &s.message {
                ev.push(Evidence::new("task message", m.clone()));
            }
            if let Some(p) = &s.pod {
                ev.push(Evidence::new("pod", p.clone()));
            }
            if let Some(n) = &s.node {
                ev.push(Evidence::new("node", n.clone()));
            }
            format!("{what} failed at task {}", s.name)
        }
        (RunState::Failed, None) => format!("{what} failed"),
        (RunState::Canceled, _) => format!("{what} was canceled by someone else"),
        (state, _) => format!("{what} ended {}", state.as_str().to_ascii_lowercase()),
    };
    if let Some(m) = &r.message {
        ev.push(Evidence::new("run message", m.clone()));
    }
    ev.push(run_ev);
    Err(Box::new(Finding::new(
        "run-failed",
        severity,
        subject,
        message,
        ev,
        format!("Read the failed step's logs (pod above, or the run's pods labelled {}) and fix what it reports; resubmit with `kfcheck run` to confirm.", r.pods),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, state: RunState) -> StepResult {
        StepResult {
            name: name.into(),
            state,
            state_text: state.as_str().into(),
            leaf: true,
            exit_code: None,
            message: None,
            pod: None,
            node: None,
        }
    }

    fn result(state: RunState, steps: Vec<StepResult>) -> RunResult {
        RunResult {
            door: "argo",
            run: "wf (uid)".into(),
            run_id: "uid".into(),
            finished: true,
            state,
            message: None,
            steps,
            scheduled: Some(true),
            gpu_seen: None,
            gpu_probe: None,
            waited: Duration::from_secs(2),
            polls: 2,
            pods: "workflows.argoproj.io/workflow=wf".into(),
            failure: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn any_door_failing_step_names_its_exit_pod_and_node() {
        let mut s = step("train", RunState::Failed);
        s.exit_code = Some(137);
        s.pod = Some("wf-train-1".into());
        s.node = Some("gpu-node-0".into());
        let f = verdict(
            &result(RunState::Failed, vec![step("prep", RunState::Succeeded), s]),
            Subject::new("run", "x"),
            Severity::Error,
            "gpu sample",
        )
        .unwrap_err();
        assert_eq!(f.message, "gpu sample failed at task train");
        let ev: Vec<(&str, &str)> = f
            .evidence
            .iter()
            .map(|e| (e.key.as_str(), e.observed.as_str()))
            .collect();
        assert!(
            ev.contains(&("exit code", "137")) && ev.contains(&("node", "gpu-node-0")),
            "{ev:?}"
        );
        assert!(
            f.remediation.contains("workflows.argoproj.io/workflow=wf"),
            "{}",
            f.remediation
        );
    }

    #[test]
    fn success_counts_leaf_steps_only() {
        let mut dag = step("root", RunState::Succeeded);
        dag.leaf = false;
        let ok = verdict(
            &result(
                RunState::Succeeded,
                vec![dag, step("a", RunState::Succeeded)],
            ),
            Subject::new("run", "x"),
            Severity::Error,
            "s",
        )
        .unwrap();
        assert_eq!(ok, "s: run uid succeeded in 2.00s (1 task(s))");
    }
}
