//! The real binary: starts with embedded defaults, answers health, stops cleanly on SIGTERM, and refuses to
//! start on a malformed variable with one line naming it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-media-proxy");

#[test]
fn malformed_values_stop_startup_with_one_line_naming_the_variable() {
    for (var, value) in [("IMGPROXY_KEY", "zz"), ("IMGPROXY_KEY", "abc"), ("IMGPROXY_QUALITY", "abc")] {
        let mut command = Command::new(BIN);
        command.env_clear().env(var, value).env("PORT", "0");
        if var == "IMGPROXY_KEY" {
            command.env("IMGPROXY_SALT", "aa");
        }
        let output = command.output().expect("run binary");
        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[tokio::test]
async fn serves_health_with_defaults_and_stops_on_sigterm() {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PORT", "0")
        .env("GOMEMLIMIT", "1GiB")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    let stdout = child.stdout.take().unwrap();
    let port = tokio::task::spawn_blocking(move || listening_port(stdout)).await.unwrap();
    let reply = common::get(([127, 0, 0, 1], port).into(), "/health", &[]).await;
    let first_response = started.elapsed();
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"OK\n");
    eprintln!("process start to first /health response: {first_response:?}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop within 5 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads JSON log lines until the "listening" one and returns its port.
fn listening_port(stdout: std::process::ChildStdout) -> u16 {
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains("listening") {
            let at = line.find("\"address\":\"").expect("address field") + 11;
            let address = &line[at..at + line[at..].find('"').unwrap()];
            return address.rsplit(':').next().unwrap().parse().unwrap();
        }
    }
    panic!("the binary exited without listening");
}

#[test]
fn sign_command_prints_a_path_the_server_accepts() {
    let path = "/rs:fit:300:0/plain/http://img.example.com/pretty/image.jpg";
    let output = Command::new(BIN)
        .env_clear()
        .env("IMGPROXY_KEY", "736563726574")
        .env("IMGPROXY_SALT", "68656C6C6F")
        .args(["sign", path])
        .output()
        .expect("run binary");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let signed = String::from_utf8(output.stdout).unwrap();
    // Computed independently: python3 -c "import hmac,hashlib,base64; print(base64.urlsafe_b64encode(
    //   hmac.new(b'secret', b'hello' + PATH.encode(), hashlib.sha256).digest()).rstrip(b'=').decode())"
    assert_eq!(signed.trim(), format!("/QftGHpLU9sT4svrPEBB7Vo5U7C4f3X-B9osUJKU_isw{path}"));
}
