//! Error chains told once for every client: the innermost cause (what a transport error really
//! was: "connection refused", a TLS failure) or the whole chain with each cause once. Server
//! text is redacted by the callers that show it.

/// The innermost cause of an error (its own text when it has no source).
pub fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// An error with its sources, each once (a source whose text the chain already holds is left
/// out: many libraries repeat their cause in their own message).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A Kubernetes client error in a few words: the API's status for API errors, the innermost
/// cause for transport errors. Never includes request headers (credentials), and what a server
/// or an exec credential plug-in said is redacted (a 500 may echo the request; a failing
/// plug-in may print the token it half-made).
pub fn describe_kube(e: &kube::Error) -> String {
    super::redact::redact(&match e {
        kube::Error::Api(s) => format!("{} {} ({})", s.code, s.reason, s.message),
        other => innermost(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct E(&'static str, #[source] Option<Box<E>>);

    #[test]
    fn chains_show_each_cause_once_and_innermost_the_last() {
        let e = E(
            "request failed: connection refused",
            Some(Box::new(E(
                "connection refused",
                Some(Box::new(E("os error 111", None))),
            ))),
        );
        assert_eq!(
            chain(&e),
            "request failed: connection refused: os error 111"
        );
        assert_eq!(innermost(&e), "os error 111");
        assert_eq!(innermost(&E("alone", None)), "alone");
    }
}
