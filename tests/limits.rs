//! Resource limits: no oversized body, slow client or crowd of idle connections stops the proxy
//! from answering a normal request.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{DEREGISTER, TASK_1, TestProxy, WINDOW, authorization, config, deregister_body};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for events that must happen; reaching it fails the test, it never paces it.
const DEADLINE: Duration = Duration::from_secs(20);

async fn answers_normally(proxy: &TestProxy) {
    let reply = proxy.ssm("/", DEREGISTER, "{}").await;
    reply.aws_error(400, "ValidationException");
}

/// Reads until the server closes the connection; returns what was read.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    received
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_and_the_proxy_keeps_answering() {
    let mut config = config();
    config.limits.max_body_bytes = 1024;
    let proxy = TestProxy::start(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let chunk = "x".repeat(4000);
    let request = format!(
        "POST / HTTP/1.1\r\nhost: ssm\r\nx-amz-target: AmazonSSM.{DEREGISTER}\r\n\
         content-type: application/x-amz-json-1.1\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(
        response.contains("RequestEntityTooLargeException"),
        "{response}"
    );
    answers_normally(&proxy).await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_body_sent_in_chunks_is_answered_from_the_whole_body() {
    let proxy = TestProxy::start(config()).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: ssm\r\nx-amz-target: AmazonSSM.{DEREGISTER}\r\n\
         content-type: application/x-amz-json-1.1\r\nauthorization: {}\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        authorization("us-east-1")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let body = deregister_body(WINDOW, TASK_1);
    let (first, rest) = body.split_at(body.len() / 3);
    let (second, third) = rest.split_at(rest.len() / 2);
    for piece in [first, second, third] {
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        stream.write_all(chunk.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let response = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(
        response.ends_with(&format!(
            r#"{{"WindowId":"{WINDOW}","WindowTaskId":"{TASK_1}"}}"#
        )),
        "{response}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_slow_header_client_is_cut_off_without_blocking_others() {
    let mut config = config();
    config.limits.header_read_timeout_ms = 200;
    let proxy = TestProxy::start(config).await;
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nhost: ssm\r\nx-amz-tar")
        .await
        .unwrap();
    answers_normally(&proxy).await;
    let received = read_until_closed(&mut slow).await;
    // hyper answers 408 or just closes; either way no request was served.
    let text = String::from_utf8_lossy(&received);
    assert!(
        received.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_stop_a_normal_request() {
    let proxy = TestProxy::start(config()).await;
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(proxy.addr).await.expect("connect"));
    }
    answers_normally(&proxy).await;
    // The idle ones are still usable too.
    let mut one = idle.pop().unwrap();
    one.write_all(b"GET / HTTP/1.1\r\nhost: ssm\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = String::from_utf8(read_until_closed(&mut one).await).unwrap();
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    drop(idle);
    proxy.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let mut config = config();
    config.limits.idle_timeout_ms = 100;
    let proxy = TestProxy::start(config).await;
    let mut idle = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut idle).await, b"");
    answers_normally(&proxy).await;
    proxy.stop().await;
}

#[tokio::test]
async fn the_connection_cap_queues_clients_instead_of_refusing_them() {
    let mut config = config();
    config.limits.max_connections = 1;
    config.limits.idle_timeout_ms = 100;
    let proxy = TestProxy::start(config).await;
    let _hog = TcpStream::connect(proxy.addr).await.unwrap();
    // The hog holds the only slot until the idle timeout frees it; this request then goes through.
    tokio::time::timeout(DEADLINE, answers_normally(&proxy))
        .await
        .expect("answered once a slot frees");
    proxy.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served() {
    let proxy = TestProxy::start(config()).await;
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let request = Request::post(format!("http://{}/", proxy.addr))
        .header("x-amz-target", format!("AmazonSSM.{DEREGISTER}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", authorization("us-east-1"))
        .body(Full::new(Bytes::from(deregister_body(WINDOW, TASK_1))))
        .unwrap();
    let response = sender.send_request(request).await.expect("a response");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        format!(r#"{{"WindowId":"{WINDOW}","WindowTaskId":"{TASK_1}"}}"#).as_bytes()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let mut config = config();
    // Long enough that waiting for any of them would fail the test's deadline.
    config.limits.shutdown_grace_ms = 600_000;
    config.limits.idle_timeout_ms = 600_000;
    config.limits.header_read_timeout_ms = 600_000;
    let proxy = TestProxy::start(config).await;
    let mut kept = TcpStream::connect(proxy.addr).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nhost: ssm\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 405");
    tokio::time::timeout(DEADLINE, proxy.stop())
        .await
        .expect("shutdown waited for an idle keep-alive connection");
    let rest = read_until_closed(&mut kept).await;
    assert!(!rest.is_empty(), "the answer was cut short");
}
