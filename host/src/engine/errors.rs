//! How engine failures become the contract's typed `docker-error`.
//!
//! Plugins branch on the case, so the mapping is by meaning (the HTTP status the
//! engine answered, or whether it answered at all), never by message text.

use crate::contract::bindings::docker::DockerError;
use bollard::errors::Error as BollardError;

/// The typed error for a failed engine call. `engine` names the engine address so
/// that "cannot reach" messages say where we looked.
pub fn from_bollard(err: BollardError, engine: &str) -> DockerError {
    match err {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => from_status(status_code, message),
        BollardError::DockerStreamError { error } => DockerError::EngineError(error),
        BollardError::DockerContainerWaitError { error, code } => {
            DockerError::EngineError(format!("waiting failed (exit code {code}): {error}"))
        }
        BollardError::RequestTimeoutError => DockerError::EngineUnavailable(format!(
            "the Docker engine at {engine} did not answer in time"
        )),
        e if is_connection_error(&e) => {
            DockerError::EngineUnavailable(describe_unreachable(engine, &root_cause(&e)))
        }
        other => DockerError::EngineError(other.to_string()),
    }
}

/// The message for an engine that cannot be reached at all.
pub fn describe_unreachable(engine: &str, detail: &str) -> String {
    let lower = detail.to_lowercase();
    let hint = if lower.contains("badcertificate")
        || lower.contains("unknownca")
        || lower.contains("certificate required")
    {
        "the engine refused this client's TLS certificate: use a client certificate signed by the CA the engine trusts (its --tlscacert)"
    } else if lower.contains("certificate") {
        "the engine's TLS certificate is not signed by the CA given for it, or is not for this address: check the engine's `ca` (DOCKER_CERT_PATH/ca.pem for the default engine)"
    } else {
        "start dockerd, or point DOCKER_HOST at a running engine"
    };
    format!("cannot reach the Docker engine at {engine} ({detail}): {hint}")
}

/// Map an engine HTTP status to the contract's case.
pub fn from_status(status: u16, message: String) -> DockerError {
    let message = message.trim().to_string();
    match status {
        404 => DockerError::NotFound(message),
        409 => DockerError::Conflict(message),
        400 | 422 => DockerError::Invalid(message),
        401 | 403 => DockerError::Denied(message),
        _ => DockerError::EngineError(format!("{message} (HTTP {status})")),
    }
}

fn is_connection_error(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::IOError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::SocketNotFoundError(_)
    )
}

/// The same case with a message that says what was being done.
pub fn context(err: DockerError, doing: &str) -> DockerError {
    let wrap = |m: String| format!("{doing}: {m}");
    match err {
        DockerError::NotFound(m) => DockerError::NotFound(wrap(m)),
        DockerError::Conflict(m) => DockerError::Conflict(wrap(m)),
        DockerError::Denied(m) => DockerError::Denied(wrap(m)),
        DockerError::Invalid(m) => DockerError::Invalid(wrap(m)),
        DockerError::EngineUnavailable(m) => DockerError::EngineUnavailable(wrap(m)),
        DockerError::EngineError(m) => DockerError::EngineError(wrap(m)),
    }
}

/// One line for people: the case and the message, as plugins and the CLI show it.
pub fn describe(err: &DockerError) -> String {
    let (case, msg) = case_and_message(err);
    format!("{case}: {msg}")
}

/// The contract's name for the case, as written in the WIT file.
pub fn case_and_message(err: &DockerError) -> (&'static str, &str) {
    match err {
        DockerError::NotFound(m) => ("not-found", m),
        DockerError::Conflict(m) => ("conflict", m),
        DockerError::Denied(m) => ("denied", m),
        DockerError::Invalid(m) => ("invalid", m),
        DockerError::EngineUnavailable(m) => ("engine-unavailable", m),
        DockerError::EngineError(m) => ("engine-error", m),
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)" says more
/// to a user than the layers of client wrapping around it.
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_cases() {
        let cases = [
            (404, "not-found"),
            (409, "conflict"),
            (400, "invalid"),
            (403, "denied"),
            (500, "engine-error"),
            (503, "engine-error"),
        ];
        for (status, want) in cases {
            let err = from_status(status, format!("m{status}"));
            assert_eq!(case_and_message(&err).0, want, "status {status}");
        }
    }

    #[test]
    fn engine_errors_keep_the_status() {
        let err = from_status(500, "boom\n".into());
        assert_eq!(describe(&err), "engine-error: boom (HTTP 500)");
    }

    #[test]
    fn server_errors_map_through_bollard() {
        let err = BollardError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x".into(),
        };
        assert_eq!(
            describe(&from_bollard(err, "unix:///x")),
            "not-found: No such container: x"
        );
    }

    #[test]
    fn lost_connections_are_engine_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = from_bollard(BollardError::IOError { err: io }, "tcp://127.0.0.1:9");
        let (case, msg) = case_and_message(&err);
        assert_eq!(case, "engine-unavailable");
        assert!(msg.contains("tcp://127.0.0.1:9"), "{msg}");
        assert!(msg.contains("DOCKER_HOST"), "{msg}");
    }

    #[test]
    fn unreachable_engines_say_what_to_fix() {
        let refused = describe_unreachable("tcp://h:2376", "received fatal alert: BadCertificate");
        assert!(refused.contains("client's TLS certificate"), "{refused}");
        let unknown =
            describe_unreachable("tcp://h:2376", "invalid peer certificate: UnknownIssuer");
        assert!(unknown.contains("not signed by the CA"), "{unknown}");
        let down = describe_unreachable("unix:///x.sock", "No such file or directory");
        assert!(down.contains("start dockerd"), "{down}");
        assert!(down.contains("unix:///x.sock") && down.contains("No such file"));
    }

    #[test]
    fn context_keeps_the_case() {
        let err = context(DockerError::NotFound("gone".into()), "pulling `x`");
        assert_eq!(describe(&err), "not-found: pulling `x`: gone");
    }

    #[test]
    fn timeouts_are_engine_unavailable() {
        let err = from_bollard(BollardError::RequestTimeoutError, "unix:///s");
        assert_eq!(case_and_message(&err).0, "engine-unavailable");
    }
}
