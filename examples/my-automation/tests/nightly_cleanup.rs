#[tokio::test]
async fn nightly_cleanup_deregisters_the_patch_task() {
    let proxy = ssm_vcr::Proxy::builder()
        .cassette_file("tests/cassettes/nightly-cleanup.json")
        .start()
        .await
        .unwrap();
    let ssm = aws_sdk_ssm::Client::from_conf(proxy.sdk_config());

    my_automation::nightly_cleanup(&ssm).await.unwrap();

    proxy.assert_all_used(); // panics naming each unused recording and each missed call
}
