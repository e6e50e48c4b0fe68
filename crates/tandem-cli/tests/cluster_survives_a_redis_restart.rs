//! Redis is killed and started again, empty, while a publisher is busy: the nodes report it
//! (`/healthz` 503), send their clients away with 1013 and a retry hint, never panic, and
//! serve again once Redis is back. The subscriber's resume says `recovered: false`, since
//! the history died with Redis, and every message acknowledged afterwards arrives.

#![allow(clippy::unwrap_used)]

mod support;

use support::redis::{RedisProcess, node};
use support::{Chat, cluster_client, messages, rejoined, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_under_load_is_survived_and_reported_as_a_gap() {
    let mut redis = RedisProcess::start().await;
    // The load runs as fast as acks come back: above the default per-connection rate limit.
    let flags = ["--rate", "100000", "--burst", "100000"];
    let mut one = node(&redis, &flags).await;
    let mut two = node(&redis, &flags).await;
    let alice = cluster_client(&[one.url(), two.url()], "alice").await;
    let bob = cluster_client(&[two.url(), one.url()], "bob").await;
    let mut alice_events = alice.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();

    // Load: bob keeps 32 publishes in flight until told to stop (at most 20,000 in all),
    // through the restart.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn({
        let (bob, stop) = (bob.clone(), stop.clone());
        async move {
            // Every publish resolves: acknowledged, or a typed error; none is left hanging.
            let mut outcomes = (0u32, 0u32);
            let mut in_flight = tokio::task::JoinSet::new();
            let mut count = |r: Result<Result<u64, tandem_client::Error>, _>| match r.unwrap() {
                Ok(_) => outcomes.0 += 1,
                Err(_) => outcomes.1 += 1,
            };
            for n in 0..20_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if in_flight.len() >= 32 {
                    count(in_flight.join_next().await.unwrap());
                }
                let bob = bob.clone();
                in_flight.spawn(async move { bob.publish("room", &Chat::new(n)).await });
            }
            while let Some(r) = in_flight.join_next().await {
                count(r);
            }
            outcomes
        }
    });
    messages(&mut alice_events, "room", 200).await;
    redis.kill().await;
    one.wait_healthy(false).await;
    two.wait_healthy(false).await;
    redis.restart().await;
    one.wait_healthy(true).await;
    two.wait_healthy(true).await;

    let recovered = rejoined(&mut alice_events, "alice's resume").await;
    assert_eq!(
        recovered,
        Some(false),
        "Redis lost the history: the gap is reported"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acked, failed) = within("the load to stop", load).await.unwrap();
    println!("load: {acked} acknowledged, {failed} failed with a typed error");
    assert!(one.is_running() && two.is_running(), "no node panicked");

    // After the restart the room works: a marker sent now arrives, and what alice saw since
    // her resume is one increasing run with no duplicate.
    let marker = bob.publish("room", &Chat::new(1000)).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let (seq, m) = messages(&mut alice_events, "room", 1).await.remove(0);
        seen.push(seq);
        if m.n == 1000 {
            assert_eq!(seq, marker);
            break;
        }
    }
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "one run, no gap, no duplicate: {seen:?}"
    );
    drop((alice, bob));
}
