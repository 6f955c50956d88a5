//! The RocksDB ledger as its users meet it: a reader beside a live writer, proofs of every
//! event, verification that names what was altered behind its back, backups, the writer's
//! command line (killed half-way included), and the demo seed's ledger against Postgres.

use std::{collections::BTreeSet, path::Path, time::Duration};

use app::backend::ledger::{
    self, format, merkle, EventFilter, NewEvent, Order, Reader, Settings, Writer,
};
use chrono::Utc;
use uuid::Uuid;

use crate::common::{binary, test_config, text, TestApp, TestDb, DEMO_PASSWORD};

/// A fresh directory of its own under the system's temporary one, removed when dropped.
fn temp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("deltran-ledger-{name}-"))
        .tempdir()
        .unwrap()
}

/// `n` events over `payments` payments, each payment created then settled.
fn events(n: usize, payments: u128) -> Vec<NewEvent> {
    (0..n)
        .map(|i| NewEvent {
            payment_id: Uuid::from_u128(i as u128 % payments + 1),
            event_type: if (i as u128) < payments {
                "created"
            } else {
                "settled"
            }
            .into(),
            payload: format!(r#"{{"n":{i}}}"#).into_bytes(),
            time: Utc::now(),
        })
        .collect()
}

fn small_blocks(events: u64) -> Settings {
    Settings {
        block_events: events,
        ..Settings::default()
    }
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_reader_beside_a_live_writer_sees_its_appends_and_never_writes_there() {
    let dir = temp("reader");
    let path = dir.path().join("ledger");
    let mut w = Writer::open(&path, &Settings::default()).unwrap();
    w.append(events(10, 5)).unwrap();
    w.seal(Utc::now()).unwrap();
    let before = files_in(&path);

    let reader = Reader::new(path.clone(), dir.path().join("reader"), Settings::default());
    let head = reader.with_view(|v| v.head()).unwrap();
    assert_eq!((head.last_seq, head.blocks, head.unsealed), (10, 1, 0));

    w.append(events(5, 5)).unwrap();
    // Until it catches up the reader keeps the view it had; then it sees the new events.
    std::thread::sleep(Duration::from_millis(300));
    let head = reader.with_view(|v| v.head()).unwrap();
    assert_eq!((head.last_seq, head.unsealed), (15, 5));
    let page = reader
        .with_view(|v| v.events(&EventFilter::default(), Order::Descending, None, 3))
        .unwrap();
    let seqs: Vec<u64> = page.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [15, 14, 13]);
    assert_eq!(page.next_cursor, Some(13));

    // The writer's appends went to its WAL; the reader added nothing of its own there.
    let after = files_in(&path);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(
        new.iter()
            .all(|f| f.ends_with(".log") || f.ends_with(".sst")),
        "files the writer did not write appeared: {new:?}"
    );
    drop(w);
    let settled = files_in(&path);
    reader.with_view(|v| v.head()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    reader.with_view(|v| v.head()).unwrap();
    assert_eq!(
        files_in(&path),
        settled,
        "reads leave the writer's directory alone"
    );
}

#[test]
fn a_missing_ledger_is_reported_and_never_created() {
    let dir = temp("missing");
    let path = dir.path().join("nothing-here");
    let reader = Reader::new(path.clone(), dir.path().join("reader"), Settings::default());
    let err = reader.with_view(|v| v.head()).unwrap_err();
    assert_eq!(err.kind(), "missing", "{err}");
    assert!(!path.exists(), "the reader created {}", path.display());
}

#[test]
fn every_event_has_a_proof_that_verifies_and_an_altered_event_is_named() {
    let dir = temp("proofs");
    let path = dir.path().join("ledger");
    let mut w = Writer::open(&path, &small_blocks(64)).unwrap();
    w.append(events(300, 40)).unwrap();
    let blocks = w.seal(Utc::now()).unwrap();
    assert_eq!(blocks.len(), 5, "300 events in blocks of 64");
    assert_eq!(blocks[4].size(), 300 - 4 * 64);
    for pair in blocks.windows(2) {
        assert_eq!(pair[1].parent_hash, pair[0].hash());
    }
    assert_eq!(blocks[0].parent_hash, format::GENESIS_PARENT);

    let view = w.view();
    for seq in 1..=300 {
        let proof = view
            .proof(seq)
            .unwrap()
            .expect("a sealed event has a proof");
        let event = view.event(seq).unwrap().unwrap();
        let block = &blocks[((seq - 1) / 64) as usize];
        assert_eq!(proof.block_number, block.number);
        assert_eq!(proof.leaf_hash, merkle::leaf_hash(&event.canonical()));
        assert_eq!(proof.root, block.merkle_root);
        assert_eq!(proof.block_hash, block.hash());
        assert!(proof.verified(), "event {seq}'s proof");
    }
    let report = view.verify(&mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.first_broken);
    assert_eq!((report.blocks_checked, report.events_checked), (5, 300));

    // An unsealed event has no proof yet.
    w.append(events(1, 1)).unwrap();
    assert!(w.view().proof(301).unwrap().is_none());
    drop(w);

    // Someone with the files changes event 100's payload through a handle of their own.
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let db = rocksdb::DB::open_cf(&opts, &path, format::FAMILIES).unwrap();
        let cf = db.cf_handle(format::CF_EVENTS).unwrap();
        let key = format::seq_key(100);
        let mut event = format::Event::decode(&key, &db.get_cf(cf, key).unwrap().unwrap()).unwrap();
        event.payload = br#"{"n":100000}"#.to_vec();
        db.put_cf(cf, key, event.canonical()).unwrap();
    }
    let w = Writer::open(&path, &small_blocks(64)).unwrap();
    let report = w.view().verify(&mut |_, _| {}).unwrap();
    let broken = report.first_broken.expect("the change is found");
    assert_eq!(
        (broken.block, broken.seq),
        (Some(1), Some(100)),
        "{broken:?}"
    );
    assert_eq!(report.blocks_checked, 1, "block 0 still checks");
    assert!(!w.view().proof(100).unwrap().unwrap().verified());
    assert!(w.view().proof(99).unwrap().unwrap().verified());
}

#[test]
fn a_backup_restores_key_by_key_and_only_into_an_empty_directory() {
    let dir = temp("backup");
    let path = dir.path().join("ledger");
    let mut w = Writer::open(&path, &small_blocks(100)).unwrap();
    w.append(events(250, 30)).unwrap();
    w.seal(Utc::now()).unwrap();
    w.snapshot(Utc::now()).unwrap();
    let first = w.backup(&dir.path().join("backups"), 2).unwrap();
    w.append(events(10, 30)).unwrap();
    let second = w.backup(&dir.path().join("backups"), 2).unwrap();
    assert!(second.id > first.id);
    w.backup(&dir.path().join("backups"), 2).unwrap();
    let kept = ledger::backups(&dir.path().join("backups")).unwrap();
    assert_eq!(kept.len(), 2, "purged to the newest 2: {kept:?}");
    drop(w);

    let restored = dir.path().join("restored");
    ledger::restore(&dir.path().join("backups"), None, &restored).unwrap();
    let dump = |p: &Path| {
        let db = rocksdb::DB::open_cf_for_read_only(
            &rocksdb::Options::default(),
            p,
            format::FAMILIES,
            false,
        )
        .unwrap();
        let mut all = Vec::new();
        for cf in format::FAMILIES {
            let handle = db.cf_handle(cf).unwrap();
            for entry in db.iterator_cf(handle, rocksdb::IteratorMode::Start) {
                let (k, v) = entry.unwrap();
                all.push((cf, k.to_vec(), v.to_vec()));
            }
        }
        all
    };
    let original = dump(&path);
    assert!(original.len() > 260 * 3);
    assert_eq!(dump(&restored), original, "equal key by key");

    let err = ledger::restore(&dir.path().join("backups"), None, &restored).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let err =
        ledger::restore(&dir.path().join("nothing"), None, &dir.path().join("x")).unwrap_err();
    assert!(err.to_string().contains("no ledger backups"), "{err}");
}

/// The binary with its ledger at `path`.
fn ledger_cli(path: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = binary("postgres://unused")
        .env("LEDGER_PATH", path)
        .env("DATA_DIR", path.parent().unwrap())
        .arg("ledger")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_cli_appends_seals_verifies_and_refuses_bad_input_whole() {
    let dir = temp("cli");
    let path = dir.path().join("ledger");
    let p = Uuid::new_v4();
    let good = format!(
        "{{\"payment_id\":\"{p}\",\"event_type\":\"created\",\"payload\":{{\"amount\":\"1.00\"}}}}\n\
         {{\"payment_id\":\"{p}\",\"event_type\":\"settled\",\"payload\":{{}},\"time\":\"2026-12-01T10:00:00Z\"}}\n"
    );
    let out = ledger_cli(&path, &["append", "--seal"], Some(&good));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("appended events 1 to 2"), "{said}");
    assert!(said.contains("sealed 1 block(s)"), "{said}");

    // One bad line: nothing of the file is appended.
    let bad = format!(
        "{{\"payment_id\":\"{p}\",\"event_type\":\"processing\",\"payload\":{{}}}}\n\
         {{\"payment_id\":\"{p}\",\"event_type\":\"Not A Type\",\"payload\":{{}}}}\n"
    );
    for input in [bad.as_str(), "{\"payment_id\":\"x\"}\n", "not json\n"] {
        let out = ledger_cli(&path, &["append"], Some(input));
        assert_eq!(out.status.code(), Some(1), "{input}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("line "), "{err}");
    }
    let out = ledger_cli(&path, &["status"], None);
    assert!(
        text(&out.stdout).starts_with("2 events, 1 blocks, 0 not sealed"),
        "{}",
        text(&out.stdout)
    );

    let out = ledger_cli(&path, &["verify"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("intact: 1 blocks and 2 events"));

    let out = ledger_cli(&path, &["snapshot"], None);
    assert!(
        text(&out.stdout).contains("1 payments"),
        "{}",
        text(&out.stdout)
    );

    let backups = dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let out = ledger_cli(&path, &["backup", "--dir", backups], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let into = dir.path().join("restored");
    let out = ledger_cli(
        &path,
        &[
            "restore",
            "--dir",
            backups,
            "--into",
            into.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 blocks and 2 events verified"));

    // A directory with something else in it is not taken for a ledger.
    let out = ledger_cli(dir.path(), &["seal"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("holds no ledger"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_writer_killed_during_a_long_append_leaves_a_consistent_prefix() {
    let dir = temp("kill");
    let path = dir.path().join("ledger");
    let input = dir.path().join("events.jsonl");
    let payments: Vec<Uuid> = (0..500).map(|_| Uuid::new_v4()).collect();
    let total = 300_000usize;
    let mut lines = String::with_capacity(total * 110);
    for i in 0..total {
        lines.push_str(&format!(
            "{{\"payment_id\":\"{}\",\"event_type\":\"screened\",\"payload\":{{\"i\":{i}}}}}\n",
            payments[i % payments.len()]
        ));
    }
    std::fs::write(&input, lines).unwrap();
    drop(Writer::open(&path, &Settings::default()).unwrap());

    let mut child = binary("postgres://unused")
        .env("LEDGER_PATH", &path)
        .env("DATA_DIR", dir.path())
        .args(["ledger", "append", input.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reader = Reader::new(path.clone(), dir.path().join("reader"), Settings::default());
    let mut seen = 0;
    for _ in 0..3000 {
        seen = reader
            .with_view(|v| v.head())
            .map(|h| h.last_seq)
            .unwrap_or(0);
        if seen > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(seen > 0, "the append was under way");

    let w = Writer::open(&path, &Settings::default()).unwrap();
    let view = w.view();
    let head = view.head().unwrap();
    assert!(
        head.last_seq < total as u64,
        "killed before the end ({} of {total}); the test proves nothing if it finished",
        head.last_seq
    );
    assert_eq!(
        head.last_seq % 10_000,
        0,
        "whole batches only: {}",
        head.last_seq
    );
    assert!(view.verify(&mut |_, _| {}).unwrap().ok());
    // Every event has its index entry and its payment's state counts it.
    let mut counted = 0u64;
    for state in view.states() {
        let (payment, state) = state.unwrap();
        assert!(state.last_seq <= head.last_seq);
        let indexed = view
            .events(
                &EventFilter {
                    payment_id: Some(payment),
                    ..Default::default()
                },
                Order::Ascending,
                None,
                100_000,
            )
            .unwrap()
            .items;
        assert_eq!(indexed.len() as u32, state.events, "payment {payment}");
        assert_eq!(indexed.last().unwrap().seq, state.last_seq);
        counted += state.events as u64;
    }
    assert_eq!(counted, head.last_seq);
    // And the writer carries on from there.
    let mut w = w;
    let next = w.append(events(1, 1)).unwrap().unwrap();
    assert_eq!(*next.start(), head.last_seq + 1);
}

#[tokio::test]
async fn the_demo_seed_writes_the_ledger_postgres_describes() {
    let t = TestDb::migrated().await;
    let dir = temp("seed");
    let path = dir.path().join("ledger");
    let options = server::seed::SeedOptions {
        payments: 300,
        anchor: Utc::now().date_naive(),
        password: DEMO_PASSWORD.into(),
        show_progress: false,
        admin_totp: None,
        ledger: Some(server::seed::LedgerSeed {
            path: path.clone(),
            settings: small_blocks(128),
            data_dir: dir.path().to_path_buf(),
            key: "k".repeat(32),
        }),
    };
    let report = server::seed::seed_demo(&t.pool, &options).await.unwrap();
    assert!(report.ledger_skipped.is_none(), "{report}");
    assert!(report.ledger_events >= 600, "{report}");

    let payments: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, status::text FROM deltran.payments")
            .fetch_all(&t.pool)
            .await
            .unwrap();
    let settled = payments.iter().filter(|p| p.1 == "settled").count();
    let reader = Reader::new(path.clone(), dir.path().join("reader"), Settings::default());
    let (states, settled_events, report_ok, blocks) = reader
        .with_view(move |v| {
            let states: Vec<_> = payments
                .iter()
                .map(|(id, status)| (status.clone(), v.state(*id).unwrap().map(|s| s.status)))
                .collect();
            let settled = v
                .events(
                    &EventFilter {
                        event_type: Some("settled".into()),
                        ..Default::default()
                    },
                    Order::Ascending,
                    None,
                    10_000,
                )?
                .items
                .len();
            Ok((
                states,
                settled,
                v.verify(&mut |_, _| {})?.ok(),
                v.head()?.blocks,
            ))
        })
        .unwrap();
    for (postgres, ledger) in &states {
        assert_eq!(
            Some(postgres),
            ledger.as_ref(),
            "a payment's ledger state is its status"
        );
    }
    assert_eq!(settled_events, settled);
    assert!(report_ok);
    assert_eq!(blocks, report.ledger_events.div_ceil(128));
    t.drop_db().await;
}

#[tokio::test]
async fn readyz_names_a_ledger_that_is_not_there() {
    let t = TestDb::migrated().await;
    let mut config = test_config(&t.url);
    config.ledger_path = config.data_dir.join("no-ledger-here");
    let app = TestApp::spawn(config.clone()).await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["ledger"]));
    assert_eq!(body["ledger_error"], "missing");
    assert!(!config.ledger_path.exists());
    t.drop_db().await;
}

#[test]
fn checkpoints_prove_that_the_chain_only_grew() {
    let dir = temp("checkpoint");
    let key = "k".repeat(32);
    let mut w = Writer::open(&dir.path().join("ledger"), &small_blocks(10)).unwrap();
    w.append(events(35, 7)).unwrap();
    w.seal(Utc::now()).unwrap();
    let old = ledger::checkpoint::take(&w, dir.path(), &key)
        .unwrap()
        .unwrap();
    assert_eq!(old.size, 4);
    assert!(old.verify_signature(&key));
    assert_eq!(ledger::checkpoint::latest(dir.path()), Some(old.clone()));

    // A sealed block never grows: block 3 keeps its 5 events, the 52 new ones fill 6 more.
    w.append(events(52, 7)).unwrap();
    w.seal(Utc::now()).unwrap();
    let new = ledger::checkpoint::take(&w, dir.path(), &key)
        .unwrap()
        .unwrap();
    assert_eq!(new.size, 10, "4 blocks, then 6 more for 52 events");
    let view = w.view();
    let proof = view.consistency(old.size, new.size).unwrap().unwrap();
    let root = |hex: &str| merkle::from_hex(hex).unwrap();
    assert!(merkle::verify_consistency(
        old.size,
        new.size,
        &root(&old.root),
        &root(&new.root),
        &proof
    ));
    // The old checkpoint's root is still what the tree had at its size.
    assert_eq!(
        merkle::to_hex(&view.chain_root(old.size).unwrap()),
        old.root
    );
    // Sizes out of range have no proof.
    assert!(view.consistency(0, 10).unwrap().is_none());
    assert!(view.consistency(5, 4).unwrap().is_none());
    assert!(view.consistency(4, 11).unwrap().is_none());
    drop(w);

    // A block rewritten behind the writer's back, even with its root and hash made to fit
    // its events, no longer fits the chain tree the checkpoints signed.
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let db = rocksdb::DB::open_cf(&opts, dir.path().join("ledger"), format::FAMILIES).unwrap();
        let cf = db.cf_handle(format::CF_BLOCKS).unwrap();
        let key = format::seq_key(8);
        let mut block = format::Block::decode(&key, &db.get_cf(cf, key).unwrap().unwrap()).unwrap();
        block.time += chrono::Duration::seconds(1);
        db.put_cf(cf, key, block.canonical()).unwrap();
    }
    let w = Writer::open(&dir.path().join("ledger"), &small_blocks(10)).unwrap();
    let broken = w
        .view()
        .verify(&mut |_, _| {})
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(broken.block, Some(8), "{broken:?}");
}

#[tokio::test]
async fn reconcile_agrees_with_the_seed_and_names_each_difference_planted() {
    let t = TestDb::migrated().await;
    let mut config = test_config(&t.url);
    std::fs::remove_dir_all(&config.ledger_path).unwrap();
    let options = server::seed::SeedOptions {
        payments: 200,
        anchor: Utc::now().date_naive(),
        password: DEMO_PASSWORD.into(),
        show_progress: false,
        admin_totp: None,
        ledger: Some(server::seed::LedgerSeed {
            path: config.ledger_path.clone(),
            settings: Settings::default(),
            data_dir: config.data_dir.clone(),
            key: "k".repeat(32),
        }),
    };
    server::seed::seed_demo(&t.pool, &options).await.unwrap();
    let run = |config: &app::backend::config::Config| {
        binary(&t.url)
            .env("LEDGER_PATH", &config.ledger_path)
            .env("DATA_DIR", &config.data_dir)
            .args(["ledger", "reconcile"])
            .output()
            .unwrap()
    };
    let out = run(&config);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("the ledger agrees with Postgres: 200 payments"));

    // A status changed in Postgres only, and an event of a payment Postgres never had.
    let (changed,): (Uuid,) = sqlx::query_as(
        "UPDATE deltran.payments SET status = 'cancelled' \
         WHERE id = (SELECT id FROM deltran.payments WHERE status = 'pending' LIMIT 1) RETURNING id",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let stranger = Uuid::new_v4();
    let mut w = crate::common::ledger_writer(&config);
    w.append(vec![NewEvent {
        payment_id: stranger,
        event_type: "created".into(),
        payload: b"{}".to_vec(),
        time: Utc::now(),
    }])
    .unwrap();
    drop(w);
    let out = run(&config);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "StatusDiffers: payment {changed}: the ledger has it pending, Postgres cancelled"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("UnknownPayment: payment {stranger}")),
        "{said}"
    );
    assert!(
        text(&out.stderr).contains("2 difference(s)"),
        "{}",
        text(&out.stderr)
    );

    // The same through the page's server function, as an auditor.
    config.ledger_reader_path = config.data_dir.join("reader-2");
    let app = TestApp::spawn(config).await;
    let client = app.new_client();
    app.sign_in(&client, "auditor", DEMO_PASSWORD).await;
    let r: serde_json::Value = client
        .post(app.url("/api/ledger/reconcile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["differences"], 2, "{r}");
    t.drop_db().await;
}
