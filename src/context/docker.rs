//! Connecting to the Docker engine named by --docker-host, DOCKER_HOST, or the default socket.

use super::{NeedError, Settings};
use std::time::Duration;

const PING_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

pub(crate) async fn connect(s: &Settings) -> Result<(bollard::Docker, String), NeedError> {
    let explicit = s.docker_host.clone().or_else(|| s.env.docker_host.clone());
    let host = explicit.clone().unwrap_or_else(|| DEFAULT_HOST.to_string());
    // Not configured and no default socket: Docker is simply not part of this environment.
    let unavailable = |m: String| {
        if explicit.is_some() {
            NeedError::Broken(m)
        } else {
            NeedError::Missing(m)
        }
    };
    let docker = if let Some(path) = host.strip_prefix("unix://") {
        if !std::path::Path::new(path).exists() {
            return Err(unavailable(format!(
                "no Docker engine at {host} (no such socket; set --docker-host or DOCKER_HOST)"
            )));
        }
        bollard::Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        bollard::Docker::connect_with_http(
            &host.replacen("tcp://", "http://", 1),
            120,
            bollard::API_DEFAULT_VERSION,
        )
    } else {
        return Err(NeedError::Broken(format!(
            "unsupported Docker host {host} (use unix:// or tcp://)"
        )));
    }
    .map_err(|e| NeedError::Broken(format!("cannot connect to Docker at {host}: {e}")))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok((docker, format!("Docker engine at {host}"))),
        Ok(Err(e)) => Err(unavailable(format!("no Docker engine at {host}: {e}"))),
        Err(_) => Err(unavailable(format!(
            "no Docker engine at {host}: no answer within {}s",
            PING_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unconfigured_docker_without_socket_is_missing_or_found() {
        // Depends on this machine's default socket: either outcome must be well-formed.
        match connect(&Settings::default()).await {
            Ok((_, d)) => assert!(d.starts_with("Docker engine at")),
            Err(e) => assert!(e.reason().contains(DEFAULT_HOST), "{e:?}"),
        }
    }

    #[tokio::test]
    async fn explicit_host_that_does_not_exist_is_broken() {
        let s = Settings {
            docker_host: Some("unix:///nonexistent/docker.sock".into()),
            ..Settings::default()
        };
        let Err(NeedError::Broken(m)) = connect(&s).await else {
            panic!("expected broken")
        };
        assert!(
            m.contains("no Docker engine at unix:///nonexistent/docker.sock"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_socket_nobody_answers_on_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Accept and close immediately: a daemon going away mid-conversation.
        std::thread::spawn(move || {
            for s in listener.incoming().take(3) {
                drop(s);
            }
        });
        let s = Settings {
            docker_host: Some(format!("unix://{}", path.display())),
            ..Settings::default()
        };
        let Err(NeedError::Broken(m)) = connect(&s).await else {
            panic!("expected broken")
        };
        assert!(m.contains("no Docker engine at unix://"), "{m}");
    }
}
