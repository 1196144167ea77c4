//! examples/loopback-demo.sh, run as the unprivileged user, as README says.

use crate::common::Sandbox;

#[test]
fn loopback_demo_fetches_through_the_tunnel() {
    let sb = Sandbox::new();
    let demo = sb.root.join("loopback-demo.sh");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/loopback-demo.sh"),
        &demo,
    )
    .unwrap();
    let out = crate::common::Cmd::from(&sb, std::path::Path::new("/bin/sh"))
        .arg(&demo)
        .env("WG_WRAP", sb.bin.join("wg-wrap"))
        .run();
    let text = out.ok();
    assert!(text.contains("Hello from inside the tunnel"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}
