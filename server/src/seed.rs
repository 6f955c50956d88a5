//! `deltran-console seed --demo`: deterministic demo data, fast enough for millions of rows.
//!
//! Every value is a pure function of the payment's index, the number of payments and the
//! anchor day (see `Gen`), so the same arguments give the same rows. The big tables go in
//! through `COPY` while a blocking thread generates the next chunk, and everything is one
//! transaction: a failed seed leaves nothing behind.

use std::{collections::HashMap, fmt, fmt::Write as _, time::Instant};

use anyhow::Context;
use app::backend::{
    audit::{jsonb_text, Actor, AuditEvent, AuditRow, Severity, GENESIS_HASH},
    context::RequestContext,
    ledger, passwords,
};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use app::domain::{Currency, PaymentStatus};

/// Days of history the demo data covers, ending on the anchor day.
pub const DAYS: i64 = 90;
const SEED: u64 = 0x5EED_DE17_2026;
/// Opening balance of every account, in hundredths.
const OPENING: i128 = 50_000_000_000_000;
const CHUNK: usize = 1 << 20;

pub struct SeedOptions {
    pub payments: u64,
    pub anchor: NaiveDate,
    pub password: String,
    pub show_progress: bool,
    /// The demo admin's TOTP secret, already encrypted for storage (`DEMO_TOTP_SECRET`).
    pub admin_totp: Option<Vec<u8>>,
    /// The ledger to write the payments' events into; None writes no ledger.
    pub ledger: Option<LedgerSeed>,
}

/// Where the demo seed writes its ledger, and how.
#[derive(Debug, Clone)]
pub struct LedgerSeed {
    /// `LEDGER_PATH`.
    pub path: std::path::PathBuf,
    pub settings: ledger::Settings,
    /// Where the checkpoint of the sealed blocks goes (`DATA_DIR`), and its signing key.
    pub data_dir: std::path::PathBuf,
    pub key: String,
}

#[derive(Debug, Default)]
pub struct SeedReport {
    pub skipped: bool,
    pub banks: usize,
    pub accounts: usize,
    pub payments: u64,
    pub compliance_checks: u64,
    pub transactions: u64,
    pub audit_rows: u64,
    /// Ledger events appended and blocks sealed (0 when a ledger was not asked for, or
    /// already held events).
    pub ledger_events: u64,
    pub ledger_blocks: u64,
    /// Why the ledger was left alone, when it was.
    pub ledger_skipped: Option<String>,
    pub seconds: f64,
}

/// Writes what the payment services would have left in Redis for the seeded world, under
/// `prefix`: a counter for every rate limit in force (part of its limit, expiring with its
/// window), the idempotency keys of the 50 newest payments (payment id and status, 24 h), and
/// three circuit breakers (one closed, one open, one half open). Returns how many keys.
pub async fn seed_redis(
    db: &PgPool,
    redis: &mut app::backend::redis_conn::Redis,
    prefix: &str,
) -> anyhow::Result<usize> {
    let limits: Vec<(String, String, String, i64, i32)> = sqlx::query_as(
        "SELECT entity_type, entity_id, limit_type, limit_value, window_seconds \
         FROM deltran.rate_limits WHERE is_active AND (action_type IS NULL OR action_type = 'throttle') \
         ORDER BY entity_type, entity_id, limit_type",
    )
    .fetch_all(db)
    .await?;
    let keys: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
        "SELECT id, idempotency_key, status::text FROM deltran.payments \
         WHERE idempotency_key IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 50",
    )
    .fetch_all(db)
    .await?;
    let now = Utc::now();
    let mut pipe = redis::pipe();
    for (k, (entity_type, entity_id, limit_type, limit, window)) in limits.iter().enumerate() {
        let key = format!("{prefix}ratelimit:{entity_type}:{entity_id}:{limit_type}");
        let count = limit * (3 + 2 * k as i64 % 5) / 10;
        pipe.set_ex(key, count, *window as u64).ignore();
    }
    for (id, key, status) in &keys {
        let key = format!("{prefix}idempotency:{key}");
        pipe.hset_multiple(
            &key,
            &[("payment_id", id.to_string()), ("status", status.clone())],
        )
        .ignore()
        .expire(&key, 24 * 3600)
        .ignore();
    }
    let opened = |minutes| (now - Duration::minutes(minutes)).to_rfc3339();
    let circuits = [
        ("swift-gateway", "closed", "0", None),
        ("sanctions-screening", "open", "7", Some(opened(3))),
        ("fx-rates", "half_open", "3", Some(opened(10))),
    ];
    for (service, state, failures, opened_at) in &circuits {
        let key = format!("{prefix}circuit:{service}");
        pipe.del(&key).ignore();
        pipe.hset_multiple(&key, &[("state", *state), ("failures", *failures)])
            .ignore();
        if let Some(at) = opened_at {
            pipe.hset(&key, "opened_at", at).ignore();
        }
    }
    pipe.query_async::<()>(redis)
        .await
        .context("writing the demo's Redis state")?;
    Ok(limits.len() + keys.len() + circuits.len())
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.skipped {
            writeln!(f, "demo data is already present: nothing seeded")?;
        } else {
            writeln!(
                f,
                "seeded {} banks, {} accounts, {} payments, {} compliance checks, {} transactions, {} audit rows in {:.1} s",
                self.banks, self.accounts, self.payments, self.compliance_checks,
                self.transactions, self.audit_rows, self.seconds
            )?;
            match &self.ledger_skipped {
                Some(why) => writeln!(f, "ledger: {why}")?,
                None => writeln!(
                    f,
                    "ledger: {} events in {} sealed blocks",
                    self.ledger_events, self.ledger_blocks
                )?,
            }
        }
        writeln!(f, "demo logins (password: the value of DEMO_PASSWORD):")?;
        for (user, role) in DEMO_USERS {
            writeln!(f, "  {user:9} {role}")?;
        }
        writeln!(
            f,
            "admins must use two-factor sign-in: unless DEMO_TOTP_SECRET enrolled it, `admin` \
             sets up an authenticator app on Profile at the first sign-in"
        )?;
        Ok(())
    }
}

const DEMO_USERS: [(&str, &str); 4] = [
    ("admin", "admin"),
    ("operator", "operator"),
    ("auditor", "auditor"),
    ("viewer", "viewer"),
];

/// (BIC, name, country, home currency, risk rating). Fictional institutions.
const BANKS: [(&str, &str, &str, Currency, &str); 24] = [
    (
        "DLTRUS33",
        "Hudson Federal Bank",
        "US",
        Currency::USD,
        "low",
    ),
    (
        "PCFCUS6L",
        "Pacific Coast Trust",
        "US",
        Currency::USD,
        "medium",
    ),
    ("MRDNGB2L", "Meridian Bank plc", "GB", Currency::GBP, "low"),
    (
        "THMSGB22",
        "Thames Clearing Bank",
        "GB",
        Currency::GBP,
        "medium",
    ),
    ("RHNBDEFF", "Rheinbank AG", "DE", Currency::EUR, "low"),
    (
        "ALPNDEMM",
        "Alpina Handelsbank",
        "DE",
        Currency::EUR,
        "medium",
    ),
    ("SEINFRPP", "Banque de la Seine", "FR", Currency::EUR, "low"),
    ("LGNRFRPP", "Crédit Ligérien", "FR", Currency::EUR, "high"),
    ("TULPNL2A", "Tulp Bank N.V.", "NL", Currency::EUR, "low"),
    ("IBRCESMM", "Banco Ibérico", "ES", Currency::EUR, "medium"),
    (
        "GTTHCHZZ",
        "Gotthard Privatbank",
        "CH",
        Currency::CHF,
        "low",
    ),
    ("LMNSCHGG", "Banque Léman", "CH", Currency::CHF, "medium"),
    ("SKRAJPJT", "Sakura Trust Bank", "JP", Currency::JPY, "low"),
    (
        "FJSNJPJT",
        "Fujisan Commercial Bank",
        "JP",
        Currency::JPY,
        "medium",
    ),
    (
        "MPLECATT",
        "Maple Dominion Bank",
        "CA",
        Currency::CAD,
        "low",
    ),
    (
        "HRBRCAT2",
        "Harbour Bank of Canada",
        "CA",
        Currency::CAD,
        "medium",
    ),
    ("CRLSAU2S", "Coral Sea Bank", "AU", Currency::AUD, "low"),
    ("OUTBAU3M", "Outback Mutual", "AU", Currency::AUD, "high"),
    ("JDRVCNSH", "Jade River Bank", "CN", Currency::CNY, "medium"),
    ("PRLECNBJ", "Pearl Delta Bank", "CN", Currency::CNY, "high"),
    (
        "GNGSINBB",
        "Ganges Commercial Bank",
        "IN",
        Currency::INR,
        "medium",
    ),
    ("DCCNINBB", "Deccan Trust Bank", "IN", Currency::INR, "high"),
    (
        "AMZNBRSP",
        "Banco Amazônia Sul",
        "BR",
        Currency::BRL,
        "medium",
    ),
    ("CRCABRRJ", "Banco Carioca", "BR", Currency::BRL, "critical"),
];

/// Relative payment counts per currency.
const CURRENCY_WEIGHTS: [(Currency, u64); 10] = [
    (Currency::USD, 35),
    (Currency::EUR, 25),
    (Currency::GBP, 10),
    (Currency::JPY, 6),
    (Currency::CHF, 5),
    (Currency::CAD, 4),
    (Currency::AUD, 4),
    (Currency::CNY, 4),
    (Currency::INR, 4),
    (Currency::BRL, 3),
];

/// A stateless pseudo-random source: `at(i, salt)` is the same on every run and machine.
#[derive(Clone, Copy)]
struct Gen(u64);

impl Gen {
    fn at(self, i: u64, salt: u64) -> u64 {
        // SplitMix64 finaliser over (seed, index, salt).
        let mut z = self.0
            ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(self, i: u64, salt: u64) -> f64 {
        (self.at(i, salt) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(self, i: u64, salt: u64, n: u64) -> u64 {
        self.at(i, salt) % n
    }

    fn uuid(self, i: u64, salt: u64) -> Uuid {
        let hi = self.at(i, salt) as u128;
        let lo = self.at(i, salt ^ 0xABCD_EF01) as u128;
        uuid::Builder::from_random_bytes(((hi << 64) | lo).to_be_bytes()).into_uuid()
    }
}

// Salts, one per generated quantity.
const S_TIME: u64 = 1;
const S_CURRENCY: u64 = 2;
const S_SENDER: u64 = 3;
const S_RECEIVER: u64 = 4;
const S_AMOUNT: u64 = 5;
const S_STATUS: u64 = 6;
const S_RISK: u64 = 7;
const S_ID: u64 = 8;
const S_CHECK: u64 = 9;
const S_REVIEW: u64 = 10;
const S_KEY: u64 = 11;
const S_AML: u64 = 12;
const S_BANK: u64 = 13;
const S_ACCOUNT: u64 = 14;
const S_BATCH: u64 = 15;
const S_USER: u64 = 16;
const S_AUDIT: u64 = 17;
const S_CONTROL: u64 = 18;

/// The newest payments that wait for a review whatever the dice say (in seeds of at least
/// `FORCED_MIN_PAYMENTS`), their deciding checks' types taken in turn from `REVIEW_KINDS`.
const FORCED_REVIEWS: u64 = 10;
const FORCED_MIN_PAYMENTS: u64 = 20;
const REVIEW_KINDS: [&str; 5] = ["sanctions", "pep", "aml", "kyc", "travel_rule"];

/// The matched lists (COPY text of a `text[]`) and flags of an open review of `kind`.
fn hit(kind: &str, i: u64, risk: i16) -> (&'static str, serde_json::Value) {
    match kind {
        "pep" => (
            "{PEP-WORLD}",
            json!([{"list": "PEP-WORLD", "score": risk, "field": "ordering_customer",
                    "match": "senior public official (close associate)"}]),
        ),
        "aml" => (
            "{}",
            json!([{"rule": "structuring", "score": risk,
                    "detail": "several payments just under the reporting threshold within 24 hours"}]),
        ),
        "kyc" => (
            "{}",
            json!([{"rule": "kyc_expired", "score": risk,
                    "detail": "the sender bank's KYC verification is out of date"}]),
        ),
        "travel_rule" => (
            "{}",
            json!([{"rule": "missing_originator_address", "score": risk,
                    "detail": "originator address absent from the pacs.008"}]),
        ),
        _ => {
            let lists = if i.is_multiple_of(2) {
                "{OFAC-SDN}"
            } else {
                "{EU-CONSOLIDATED,UN-1267}"
            };
            let flags = json!([{"list": lists.trim_matches(['{', '}']), "score": risk,
                                "field": "beneficiary_name"}]);
            (lists, flags)
        }
    }
}

struct World {
    gen: Gen,
    n: u64,
    start: DateTime<Utc>,
    span_secs: i64,
    today: NaiveDate,
    bank_ids: Vec<Uuid>,
    /// account id per (bank index, currency index)
    accounts: Vec<[Uuid; 10]>,
    users: HashMap<&'static str, Uuid>,
}

/// Everything about one payment, derived from its index.
struct Plan {
    id: Uuid,
    reference: String,
    created: DateTime<Utc>,
    currency: Currency,
    ci: usize,
    sender: usize,
    receiver: usize,
    /// hundredths
    amount: i128,
    status: PaymentStatus,
    risk: i16,
    check_id: Uuid,
    /// Some(open) when the sanctions check needed review; open = not reviewed yet.
    review: Option<bool>,
    review_fail: bool,
    /// The type of the payment's deciding check (`sanctions` unless one of the newest
    /// payments, whose open reviews cover every type: `REVIEW_KINDS`).
    kind: &'static str,
    aml: bool,
}

impl World {
    fn currency_index(c: Currency) -> usize {
        Currency::ALL
            .iter()
            .position(|x| *x == c)
            .expect("every currency is in ALL")
    }

    fn plan(&self, i: u64) -> Plan {
        let g = self.gen;
        // Spread evenly over the window, in index order, with a little jitter.
        let base =
            self.span_secs as f64 * (i as f64 + g.unit(i, S_TIME) * 0.9) / self.n.max(1) as f64;
        let created = self.start + Duration::milliseconds((base * 1000.0) as i64);
        let total: u64 = CURRENCY_WEIGHTS.iter().map(|w| w.1).sum();
        let mut pick = g.below(i, S_CURRENCY, total);
        let mut currency = Currency::USD;
        for (c, w) in CURRENCY_WEIGHTS {
            if pick < w {
                currency = c;
                break;
            }
            pick -= w;
        }
        let sender = g.below(i, S_SENDER, BANKS.len() as u64) as usize;
        let receiver =
            (sender + 1 + g.below(i, S_RECEIVER, BANKS.len() as u64 - 1) as usize) % BANKS.len();
        // Log-uniform between 100 and 5,000,000 units.
        let units = 100.0 * (50_000.0f64).powf(g.unit(i, S_AMOUNT));
        let mut amount = (units * 100.0).round() as i128;
        if currency.minor_units() == 0 {
            amount = (amount / 100).max(1) * 100;
        }
        let review_roll = g.unit(i, S_REVIEW);
        let age_days = (self.today - created.date_naive()).num_days();
        // The newest payments wait for a review of each kind in turn, so that the queue always
        // has cases of every type (the chance ones are sanctions hits).
        let forced = self.n >= FORCED_MIN_PAYMENTS && i + FORCED_REVIEWS >= self.n;
        let review = if forced {
            Some(true)
        } else {
            (review_roll < 0.015).then_some(age_days <= 2)
        };
        let kind = if forced {
            REVIEW_KINDS[((self.n - 1 - i) % REVIEW_KINDS.len() as u64) as usize]
        } else {
            "sanctions"
        };
        let roll = g.unit(i, S_STATUS);
        let status = if review == Some(true) {
            PaymentStatus::Pending
        } else if review.is_some() && review_roll < 0.003 {
            PaymentStatus::Failed // failed screening
        } else if age_days >= 1 {
            match roll {
                r if r < 0.93 => PaymentStatus::Settled,
                r if r < 0.97 => PaymentStatus::Failed,
                _ => PaymentStatus::Cancelled,
            }
        } else {
            match roll {
                r if r < 0.30 => PaymentStatus::Pending,
                r if r < 0.55 => PaymentStatus::Processing,
                r if r < 0.95 => PaymentStatus::Settled,
                r if r < 0.98 => PaymentStatus::Failed,
                _ => PaymentStatus::Cancelled,
            }
        };
        let risk = if review.is_some() {
            60 + g.below(i, S_RISK, 40) as i16
        } else {
            g.below(i, S_RISK, 45) as i16
        };
        Plan {
            id: g.uuid(i, S_ID),
            reference: format!("DT{}{:08}", created.format("%Y%m%d"), i),
            created,
            currency,
            ci: Self::currency_index(currency),
            sender,
            receiver,
            amount,
            status,
            risk,
            check_id: g.uuid(i, S_CHECK),
            review,
            review_fail: review_roll < 0.003,
            kind,
            aml: g.unit(i, S_AML) < 0.02,
        }
    }

    /// When the demo history ends.
    fn end(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.span_secs)
    }

    fn batch_id(&self, day: NaiveDate, ci: usize) -> Uuid {
        let d = (day - (self.today - Duration::days(DAYS))).num_days() as u64;
        self.gen.uuid(d * 16 + ci as u64, S_BATCH)
    }
}

/// Formats money held in hundredths as `123.45`.
fn money(hundredths: i128) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f+00").to_string()
}

/// Escapes a value for COPY's text format.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Seeds the demo data, or does nothing when the database already has banks.
pub async fn seed_demo(db: &PgPool, options: &SeedOptions) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM deltran.banks")
        .fetch_one(db)
        .await
        .context("the schema is missing: run `deltran-console migrate up` first")?;
    if existing > 0 {
        return Ok(SeedReport {
            skipped: true,
            ..Default::default()
        });
    }
    passwords::check_strength(&options.password)
        .map_err(|e| anyhow::anyhow!("DEMO_PASSWORD: {e}"))?;

    let end_of_anchor = Utc.from_utc_datetime(
        &(options.anchor + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    let end =
        end_of_anchor.min(Utc::now().max(end_of_anchor - Duration::days(1) + Duration::hours(1)));
    let start = Utc.from_utc_datetime(
        &(options.anchor - Duration::days(DAYS - 1))
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    let gen = Gen(SEED);
    let mut world = World {
        gen,
        n: options.payments,
        start,
        span_secs: (end - start).num_seconds(),
        today: options.anchor,
        bank_ids: (0..BANKS.len() as u64)
            .map(|b| gen.uuid(b, S_BANK))
            .collect(),
        accounts: (0..BANKS.len() as u64)
            .map(|b| std::array::from_fn(|c| gen.uuid(b * 16 + c as u64, S_ACCOUNT)))
            .collect(),
        users: HashMap::new(),
    };
    for (k, (name, _)) in DEMO_USERS.iter().enumerate() {
        world.users.insert(name, gen.uuid(k as u64, S_USER));
    }

    let mut hashes = Vec::new();
    for _ in DEMO_USERS {
        hashes.push(passwords::hash(options.password.clone()).await?);
    }

    let mut tx = db.begin().await?;
    sqlx::query("SET CONSTRAINTS ALL DEFERRED")
        .execute(&mut *tx)
        .await?;
    // Partitions for the whole window (and the months ahead) before any audit row lands.
    let months = (DAYS / 28 + 5) as i32;
    sqlx::query("SELECT deltran.ensure_audit_partitions($1, $2)")
        .bind(start.date_naive())
        .bind(months)
        .execute(&mut *tx)
        .await?;

    // Final balances and batch totals first (a pure pass), so every row is written once.
    let totals = Totals::of(&world);
    insert_reference_data(&mut tx, &world, &hashes, &totals).await?;

    let progress = if options.show_progress {
        let pb = ProgressBar::new(options.payments * 3);
        pb.set_style(
            ProgressStyle::with_template("{msg:>22} [{bar:40}] {pos}/{len} payments ({eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let world = std::sync::Arc::new(world);
    let n = options.payments;

    progress.set_message("payments");
    let w = world.clone();
    copy_generated(
        &mut tx,
        "COPY deltran.payments (id, payment_reference, sender_bank_id, receiver_bank_id, \
         sender_account_id, receiver_account_id, amount, currency, status, compliance_check_id, \
         risk_score, batch_id, swift_message_type, swift_message_id, idempotency_key, created_at, \
         updated_at, processed_at, settled_at, cancelled_at, cancel_reason, failure_reason, \
         remittance_info) FROM STDIN",
        &progress,
        n,
        move |i, out| write_payment(&w, &w.plan(i), i, out),
    )
    .await?;

    progress.set_message("compliance checks");
    let w = world.clone();
    let checks = copy_generated(
        &mut tx,
        "COPY deltran.compliance_checks (id, payment_id, check_type, status, risk_score, flags, \
         matched_lists, requires_review, reviewed_by, reviewed_at, review_notes, started_at, \
         completed_at, updated_at) FROM STDIN",
        &progress,
        n,
        move |i, out| write_checks(&w, &w.plan(i), i, out),
    )
    .await?;

    progress.set_message("transactions");
    let w = world.clone();
    let mut balances = vec![[OPENING; 10]; BANKS.len()];
    let transactions = copy_generated(
        &mut tx,
        "COPY deltran.transaction_log (payment_id, transaction_type, account_id, debit_amount, \
         credit_amount, balance_after, description, \"timestamp\", processed_by) FROM STDIN",
        &progress,
        n,
        move |i, out| write_transactions(&w, &w.plan(i), i, &mut balances, out),
    )
    .await?;
    progress.finish_and_clear();

    if let Some(secret) = &options.admin_totp {
        sqlx::query(
            "UPDATE deltran.users SET totp_secret = $2, is_2fa_enabled = true WHERE id = $1",
        )
        .bind(world.users["admin"])
        .bind(secret)
        .execute(&mut *tx)
        .await?;
    }
    let audit_rows = insert_audit(&mut tx, &world).await?;
    tx.commit().await?;

    let (ledger_events, ledger_blocks, ledger_skipped) = match options.ledger.clone() {
        Some(target) => {
            let w = world.clone();
            let show = options.show_progress;
            tokio::task::spawn_blocking(move || seed_ledger(&w, &target, show))
                .await
                .context("the ledger seed stopped")??
        }
        None => (0, 0, Some("not asked for".to_string())),
    };

    Ok(SeedReport {
        skipped: false,
        banks: BANKS.len(),
        accounts: BANKS.len() * Currency::ALL.len(),
        payments: n,
        compliance_checks: checks,
        transactions,
        audit_rows,
        ledger_events,
        ledger_blocks,
        ledger_skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn insert_reference_data(
    tx: &mut PgConnection,
    w: &World,
    hashes: &[String],
    totals: &Totals,
) -> anyhow::Result<()> {
    let mut banks = String::new();
    for (b, (bic, name, country, _, risk)) in BANKS.iter().enumerate() {
        // Most banks are verified; a few are due for their KYC refresh or still onboarding.
        let kyc = match b {
            7 | 21 => "expired",
            14 => "pending",
            _ => "verified",
        };
        let verified = match kyc {
            "pending" => "\\N".to_string(),
            _ => ts(w.start - Duration::days(400 + b as i64)),
        };
        let _ = writeln!(
            banks,
            "{}\t{bic}\t{}\t{country}\t{}\t{risk}\t{kyc}\t{verified}\tpayments-ops@{}.example\t{created}\t{created}",
            w.bank_ids[b],
            esc(name),
            b != 23,
            bic.to_ascii_lowercase(),
            created = ts(w.start - Duration::days(500)),
        );
    }
    copy_bytes(
        tx,
        "COPY deltran.banks (id, bic_code, name, country_code, is_active, risk_rating, kyc_status, kyc_verified_at, contact_email, created_at, updated_at) FROM STDIN",
        banks.into_bytes(),
    )
    .await?;

    let mut accounts = String::new();
    for (b, (bic, ..)) in BANKS.iter().enumerate() {
        for (c, currency) in Currency::ALL.iter().enumerate() {
            let (balance, reserved) = (totals.balances[b][c], totals.reserved[b][c]);
            let _ = writeln!(
                accounts,
                "{}\t{}\t{}-{:04}-{currency}\t{currency}\t{}\t{}\t{}\t{opened}\t{opened}\t{opened}",
                w.accounts[b][c],
                w.bank_ids[b],
                &bic[..4],
                c + 1,
                money(balance),
                money(balance - reserved),
                money(reserved),
                opened = ts(w.start - Duration::days(365)),
            );
        }
    }
    copy_bytes(
        tx,
        "COPY deltran.bank_accounts (id, bank_id, account_number, currency, balance, available_balance, reserved_balance, opened_at, created_at, updated_at) FROM STDIN",
        accounts.into_bytes(),
    )
    .await?;

    let mut users = String::new();
    for (k, (name, role)) in DEMO_USERS.iter().enumerate() {
        let _ = writeln!(
            users,
            "{}\t{name}@deltran.example\t{name}\t{}\t{role}\t{created}\t{created}",
            w.users[name],
            esc(&hashes[k]),
            created = ts(w.start - Duration::days(30)),
        );
    }
    copy_bytes(
        tx,
        "COPY deltran.users (id, email, username, password_hash, role, created_at, updated_at) FROM STDIN",
        users.into_bytes(),
    )
    .await?;

    // One netting batch per day and currency.
    let mut batches = String::new();
    for d in 0..DAYS {
        let day = w.today - Duration::days(DAYS - 1 - d);
        for (ci, currency) in Currency::ALL.iter().enumerate() {
            let open = day == w.today;
            let close = ts(Utc.from_utc_datetime(&day.and_hms_opt(23, 30, 0).unwrap()));
            let (status, fin, sub, set) = if open {
                (
                    "draft",
                    "\\N".to_string(),
                    "\\N".to_string(),
                    "\\N".to_string(),
                )
            } else {
                ("settled", close.clone(), close.clone(), close.clone())
            };
            let id = w.batch_id(day, ci);
            let batch = totals.batches.get(&id).copied().unwrap_or_default();
            let (count, gross) = (batch.count, batch.gross);
            // One deliberately inconsistent batch, for the batch page to flag (docs/demo-data.md):
            // the first day's USD batch stores its gross as its net, as if never netted.
            let net = if d == 0 && *currency == Currency::USD {
                gross
            } else {
                batch.net_settled()
            };
            let created = ts(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap()));
            let updated = if open { created.clone() } else { close.clone() };
            let _ = writeln!(
                batches,
                "{id}\tNET-{}-{currency}\t{currency}-MULTI\tW{}\tmultilateral_net\t{status}\t{currency}\t{count}\t{}\t{}\t{created}\t{updated}\t{fin}\t{sub}\t{set}",
                day.format("%Y%m%d"),
                day.format("%Y%m%d"),
                money(gross),
                money(net),
            );
        }
    }
    copy_bytes(
        tx,
        "COPY deltran.settlement_batches (id, batch_reference, corridor_id, netting_window_id, batch_type, status, currency, total_payments, gross_amount, net_amount, created_at, updated_at, finalized_at, submitted_at, settled_at) FROM STDIN",
        batches.into_bytes(),
    )
    .await?;

    // A few controls, as operators would have left them.
    let operator = w.users["operator"];
    let controls = [
        (
            "bank",
            w.bank_ids[23].to_string(),
            "freeze",
            "freeze",
            1i64,
            1i32,
            "Sanctions list match under investigation",
        ),
        (
            "account",
            w.accounts[17][0].to_string(),
            "throttle",
            "throttle",
            30,
            60,
            "Unusual outbound velocity",
        ),
        (
            "bank",
            w.bank_ids[21].to_string(),
            "throttle",
            "throttle",
            500,
            3600,
            "KYC refresh overdue",
        ),
    ];
    let at = w.end() - Duration::hours(5);
    for (k, (entity_type, entity_id, action, limit_type, limit, window, reason)) in
        controls.into_iter().enumerate()
    {
        sqlx::query(
            "INSERT INTO deltran.rate_limits (id, entity_type, entity_id, limit_type, limit_value, \
             window_seconds, action_type, reason, created_by, window_start, created_at, updated_at) \
             VALUES ($9, $1, $2, $3, $4, $5, $6::deltran.action_type, $7, $8, $10, $10, $10)",
        )
        .bind(entity_type)
        .bind(&entity_id)
        .bind(limit_type)
        .bind(limit)
        .bind(window)
        .bind(action)
        .bind(reason)
        .bind(operator)
        .bind(w.gen.uuid(k as u64, S_CONTROL))
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    // Standing rate limits (configuration, not an operator's control).
    for (k, bank) in [0usize, 1].into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO deltran.rate_limits (id, entity_type, entity_id, limit_type, limit_value, \
             window_seconds, window_start, created_at, updated_at) \
             VALUES ($1, 'bank', $2, 'payments_per_minute', $3, 60, $4, $4, $4)",
        )
        .bind(w.gen.uuid(50 + k as u64, S_CONTROL))
        .bind(w.bank_ids[bank].to_string())
        .bind(1200 / (k as i64 + 1))
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO deltran.control_requests (id, entity_type, entity_id, action, reason, requested_by, requested_at, expires_at) \
         VALUES ($3, 'bank', $1, 'block', 'Repeated sanctions hits on outbound payments', $2, $4, $4 + interval '24 hours')",
    )
    .bind(w.bank_ids[19].to_string())
    .bind(operator)
    .bind(w.gen.uuid(99, S_CONTROL))
    .bind(at + Duration::minutes(30))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn write_payment(w: &World, p: &Plan, i: u64, out: &mut String) {
    let sender_account = w.accounts[p.sender][p.ci];
    let receiver_account = w.accounts[p.receiver][p.ci];
    let processed = p.created + Duration::seconds(2 + (i % 40) as i64);
    let settled = settled_at(p, i);
    let none = "\\N".to_string();
    let (processed_at, settled_at, cancelled_at, cancel_reason, failure_reason, batch) =
        match p.status {
            PaymentStatus::Pending => (
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
            ),
            PaymentStatus::Processing => (
                ts(processed),
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
                none.clone(),
            ),
            PaymentStatus::Settled => (
                ts(processed),
                ts(settled),
                none.clone(),
                none.clone(),
                none.clone(),
                w.batch_id(p.created.date_naive(), p.ci).to_string(),
            ),
            PaymentStatus::Failed => (
                ts(processed),
                none.clone(),
                none.clone(),
                none.clone(),
                if p.review_fail {
                    "Failed sanctions screening".into()
                } else {
                    "Receiver account rejected".to_string()
                },
                none.clone(),
            ),
            PaymentStatus::Cancelled => (
                none.clone(),
                none.clone(),
                ts(processed),
                "Duplicate instruction".to_string(),
                none.clone(),
                none.clone(),
            ),
        };
    let updated = match p.status {
        PaymentStatus::Settled => settled,
        PaymentStatus::Pending => p.created,
        _ => processed,
    };
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{sender_account}\t{receiver_account}\t{}\t{}\t{}\t{}\t{}\t{batch}\tpacs.008\tMSG{:012}\t{}\t{}\t{}\t{processed_at}\t{settled_at}\t{cancelled_at}\t{cancel_reason}\t{failure_reason}\tInvoice INV-{:06}",
        p.id,
        p.reference,
        w.bank_ids[p.sender],
        w.bank_ids[p.receiver],
        money(p.amount),
        p.currency,
        p.status,
        p.check_id,
        p.risk,
        i,
        w.gen.uuid(i, S_KEY),
        ts(p.created),
        ts(updated),
        i % 1_000_000,
    );
}

fn write_checks(w: &World, p: &Plan, i: u64, out: &mut String) {
    let started = ts(p.created);
    let completed = ts(p.created + Duration::milliseconds(300 + (i % 700) as i64));
    match p.review {
        None => {
            let _ = writeln!(
                out,
                "{}\t{}\tsanctions\tpass\t{}\t[]\t{{}}\tf\t\\N\t\\N\t\\N\t{started}\t{completed}\t{completed}",
                p.check_id, p.id, p.risk
            );
        }
        Some(open) => {
            let (lists, flags) = hit(p.kind, i, p.risk);
            let flags = jsonb_text(&flags);
            if open {
                let _ =
                    writeln!(
                    out,
                    "{}\t{}\t{}\treview\t{}\t{}\t{lists}\tt\t\\N\t\\N\t\\N\t{started}\t\\N\t{started}",
                    p.check_id, p.id, p.kind, p.risk, esc(&flags)
                );
                // A hit of another kind came after a clean sanctions screening.
                if p.kind != "sanctions" {
                    let _ = writeln!(
                        out,
                        "{}\t{}\tsanctions\tpass\t{}\t[]\t{{}}\tf\t\\N\t\\N\t\\N\t{started}\t{completed}\t{completed}",
                        w.gen.uuid(i, S_CHECK ^ 0xB2),
                        p.id,
                        p.risk / 3
                    );
                }
            } else {
                let (status, note) = if p.review_fail {
                    (
                        "fail",
                        "Confirmed match against the listed party; payment rejected",
                    )
                } else {
                    (
                        "pass",
                        "False positive: name similarity only, different date of birth",
                    )
                };
                let reviewed = ts(p.created + Duration::hours(3));
                let _ = writeln!(
                    out,
                    "{}\t{}\tsanctions\t{status}\t{}\t{}\t{lists}\tt\t{}\t{reviewed}\t{note}\t{started}\t{reviewed}\t{reviewed}",
                    p.check_id, p.id, p.risk, esc(&flags), w.users["operator"]
                );
            }
        }
    }
    if p.aml {
        let _ = writeln!(
            out,
            "{}\t{}\taml\tpass\t{}\t[]\t{{}}\tf\t\\N\t\\N\t\\N\t{started}\t{completed}\t{completed}",
            w.gen.uuid(i, S_CHECK ^ 0xA1),
            p.id,
            p.risk / 2
        );
    }
}

/// One ledger event of payment `i`, before its payload is built.
#[derive(Clone, Copy)]
struct Due {
    time: DateTime<Utc>,
    payment: u64,
    kind: &'static str,
}

/// The ledger events payment `i` went through, as its Postgres rows tell it: created, screened,
/// then processing and settled, failed or cancelled (a payment waiting for review stops at
/// screened). Their times are the rows' own.
fn ledger_events_of(p: &Plan, i: u64, out: &mut Vec<Due>) {
    let processed = p.created + Duration::seconds(2 + (i % 40) as i64);
    let mut due = |time, kind| {
        out.push(Due {
            time,
            payment: i,
            kind,
        })
    };
    due(p.created, "created");
    due(
        p.created + Duration::milliseconds(300 + (i % 700) as i64),
        "screened",
    );
    match p.status {
        PaymentStatus::Pending => {}
        PaymentStatus::Processing => due(processed, "processing"),
        PaymentStatus::Settled => {
            due(processed, "processing");
            due(settled_at(p, i), "settled");
        }
        PaymentStatus::Failed => {
            due(processed, "processing");
            due(processed + Duration::milliseconds(500), "failed");
        }
        PaymentStatus::Cancelled => due(processed, "cancelled"),
    }
}

fn ledger_payload(w: &World, p: &Plan, i: u64, kind: &str) -> Vec<u8> {
    let value = match kind {
        "created" => json!({
            "reference": p.reference,
            "amount": money(p.amount),
            "currency": p.currency.to_string(),
            "sender_bank_id": w.bank_ids[p.sender],
            "receiver_bank_id": w.bank_ids[p.receiver],
        }),
        "screened" => json!({
            "check_id": p.check_id,
            "check_type": p.kind,
            "risk_score": p.risk,
            "result": match p.review {
                None => "pass",
                Some(true) => "review",
                Some(false) if p.review_fail => "fail",
                Some(false) => "pass",
            },
        }),
        "settled" => json!({
            "batch_id": w.batch_id(p.created.date_naive(), p.ci),
            "amount": money(p.amount),
            "currency": p.currency.to_string(),
        }),
        "failed" => json!({
            "reason": if p.review_fail { "Failed sanctions screening" } else { "Receiver account rejected" },
        }),
        "cancelled" => json!({ "reason": "Duplicate instruction" }),
        _ => json!({ "swift_message_id": format!("MSG{i:012}") }),
    };
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// Writes every payment's events into the ledger in time order, seals them into blocks, signs
/// a checkpoint of them and takes a snapshot. A ledger that already holds events is left as it is (the
/// demo would duplicate them). Returns (events, blocks, why it was skipped).
fn seed_ledger(
    w: &World,
    target: &LedgerSeed,
    show_progress: bool,
) -> anyhow::Result<(u64, u64, Option<String>)> {
    let path = &target.path;
    let mut writer = ledger::Writer::open(path, &target.settings)
        .with_context(|| format!("opening the ledger {}", path.display()))?;
    let head = writer.view().head()?;
    if head.last_seq > 0 {
        return Ok((
            0,
            0,
            Some(format!(
                "{} already holds {} events: left as it is (remove it to seed it again)",
                path.display(),
                head.last_seq
            )),
        ));
    }
    let mut due = Vec::with_capacity(w.n as usize * 4);
    for i in 0..w.n {
        ledger_events_of(&w.plan(i), i, &mut due);
    }
    due.sort_by_key(|d| (d.time, d.payment));
    let progress = if show_progress {
        crate::ledger_cli::bar(due.len() as u64, "ledger events")
    } else {
        ProgressBar::hidden()
    };
    for chunk in due.chunks(10_000) {
        let events = chunk
            .iter()
            .map(|d| {
                let p = w.plan(d.payment);
                ledger::NewEvent {
                    payment_id: p.id,
                    event_type: d.kind.to_string(),
                    payload: ledger_payload(w, &p, d.payment, d.kind),
                    time: d.time,
                }
            })
            .collect();
        writer.append(events)?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let blocks = writer.seal(w.end())?;
    ledger::checkpoint::take(&writer, &target.data_dir, &target.key)?;
    writer.snapshot(w.end())?;
    writer.flush()?;
    Ok((due.len() as u64, blocks.len() as u64, None))
}

/// Generates the rows of payments `0..n` with `write` in a blocking thread, chunk by chunk,
/// while the previous chunk streams into `COPY`. Returns the number of rows sent.
async fn copy_generated(
    tx: &mut PgConnection,
    statement: &str,
    progress: &ProgressBar,
    n: u64,
    mut write: impl FnMut(u64, &mut String) + Send + 'static,
) -> anyhow::Result<u64> {
    let (send, mut recv) = tokio::sync::mpsc::channel::<(String, u64)>(4);
    let producer = tokio::task::spawn_blocking(move || {
        let mut buf = String::with_capacity(CHUNK + 4096);
        let mut rows = 0u64;
        for i in 0..n {
            let before = buf.len();
            write(i, &mut buf);
            rows += buf[before..].matches('\n').count() as u64;
            if buf.len() >= CHUNK {
                if send
                    .blocking_send((std::mem::take(&mut buf), i + 1))
                    .is_err()
                {
                    return rows;
                }
                buf.reserve(CHUNK + 4096);
            }
        }
        let _ = send.blocking_send((buf, n));
        rows
    });
    let mut copy = tx.copy_in_raw(statement).await?;
    let mut done_before = 0;
    while let Some((chunk, done)) = recv.recv().await {
        if let Err(err) = copy.send(chunk.into_bytes()).await {
            drop(recv);
            let _ = producer.await;
            return Err(err.into());
        }
        progress.inc(done - done_before);
        done_before = done;
    }
    copy.finish().await?;
    Ok(producer.await?)
}

async fn copy_bytes(tx: &mut PgConnection, statement: &str, data: Vec<u8>) -> anyhow::Result<u64> {
    let mut copy = tx.copy_in_raw(statement).await?;
    for chunk in data.chunks(CHUNK) {
        copy.send(chunk).await?;
    }
    Ok(copy.finish().await?)
}

/// What the payments add up to: final balances, funds reserved by payments in flight, and
/// each batch's netting.
struct Totals {
    balances: Vec<[i128; 10]>,
    reserved: Vec<[i128; 10]>,
    batches: HashMap<Uuid, BatchTotal>,
}

/// A batch's payments: their number, gross amount and each bank's net position (receives −
/// sends), in hundredths.
#[derive(Default, Clone, Copy)]
struct BatchTotal {
    count: i64,
    gross: i128,
    nets: [i128; BANKS.len()],
}

impl BatchTotal {
    /// What moves after netting: the sum of the positive net positions.
    fn net_settled(&self) -> i128 {
        self.nets.iter().filter(|n| **n > 0).sum()
    }
}

impl Totals {
    fn of(w: &World) -> Totals {
        let mut t = Totals {
            balances: vec![[OPENING; 10]; BANKS.len()],
            reserved: vec![[0; 10]; BANKS.len()],
            batches: HashMap::new(),
        };
        for i in 0..w.n {
            let p = w.plan(i);
            match p.status {
                PaymentStatus::Settled => {
                    t.balances[p.sender][p.ci] -= p.amount;
                    t.balances[p.receiver][p.ci] += p.amount;
                    let e = t
                        .batches
                        .entry(w.batch_id(p.created.date_naive(), p.ci))
                        .or_default();
                    e.count += 1;
                    e.gross += p.amount;
                    e.nets[p.sender] -= p.amount;
                    e.nets[p.receiver] += p.amount;
                }
                PaymentStatus::Pending | PaymentStatus::Processing => {
                    t.reserved[p.sender][p.ci] += p.amount;
                }
                _ => {}
            }
        }
        t
    }
}

/// A settled payment moves money: a debit on the sender's account and a credit on the
/// receiver's, with running balances.
fn write_transactions(w: &World, p: &Plan, i: u64, balances: &mut [[i128; 10]], out: &mut String) {
    if p.status != PaymentStatus::Settled {
        return;
    }
    let at = ts(settled_at(p, i));
    balances[p.sender][p.ci] -= p.amount;
    balances[p.receiver][p.ci] += p.amount;
    let amount = money(p.amount);
    let by = if i.is_multiple_of(7) {
        w.users["operator"].to_string()
    } else {
        "\\N".to_string()
    };
    let _ = writeln!(
        out,
        "{}\tdebit\t{}\t{amount}\t0\t{}\tSettlement {}\t{at}\t{by}",
        p.id,
        w.accounts[p.sender][p.ci],
        money(balances[p.sender][p.ci]),
        p.reference
    );
    let _ = writeln!(
        out,
        "{}\tcredit\t{}\t0\t{amount}\t{}\tSettlement {}\t{at}\t{by}",
        p.id,
        w.accounts[p.receiver][p.ci],
        money(balances[p.receiver][p.ci]),
        p.reference
    );
}

fn settled_at(p: &Plan, i: u64) -> DateTime<Utc> {
    p.created + Duration::minutes(20 + (i % 90) as i64)
}

/// The console actions the demo history contains, hash-chained in time order: user
/// creation, sign-ins, compliance reviews, controls and cancellations.
async fn insert_audit(tx: &mut PgConnection, w: &World) -> anyhow::Result<u64> {
    let mut events: Vec<(DateTime<Utc>, AuditEvent, RequestContext)> = Vec::new();
    let ctx = |n: u64| RequestContext {
        request_id: w.gen.uuid(n, S_AUDIT).to_string(),
        ip: Some(std::net::IpAddr::from([
            10,
            20,
            (n % 200) as u8,
            (n % 250) as u8 + 1,
        ])),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) DelTranConsole-demo".into()),
        ..Default::default()
    };
    let admin = Actor::user(w.users["admin"], "admin");
    let operator = Actor::user(w.users["operator"], "operator");
    for (k, (name, role)) in DEMO_USERS.iter().enumerate() {
        let ev = AuditEvent::new(
            admin.clone(),
            "user.create",
            "user",
            Some(w.users[name].to_string()),
        )
        .metadata(json!({"username": name, "role": role}));
        events.push((
            w.start - Duration::days(30) + Duration::minutes(k as i64),
            ev,
            ctx(k as u64),
        ));
    }
    for d in 0..DAYS {
        let day = w.start + Duration::days(d);
        for (k, (name, _)) in DEMO_USERS.iter().enumerate() {
            let actor = Actor::user(w.users[name], name);
            let ev = AuditEvent::new(actor, "auth.login", "session", None);
            events.push((
                day + Duration::hours(8) + Duration::minutes(k as i64 * 7),
                ev,
                ctx(d as u64 * 8 + k as u64),
            ));
        }
        if d % 9 == 4 {
            let ev = AuditEvent::new(Actor::system("anonymous"), "auth.login", "session", None)
                .outcome(
                    app::backend::audit::Outcome::Failure,
                    Some("invalid credentials".into()),
                )
                .severity(Severity::Warning)
                .metadata(json!({"username": "admin"}));
            events.push((day + Duration::hours(7), ev, ctx(d as u64 * 8 + 5)));
        }
    }
    for i in 0..w.n {
        let p = w.plan(i);
        if p.review == Some(false) {
            let decision = if p.review_fail { "fail" } else { "pass" };
            let ev = AuditEvent::new(
                operator.clone(),
                "compliance.review",
                "compliance_check",
                Some(p.check_id.to_string()),
            )
            .metadata(json!({"decision": decision, "payment_id": p.id.to_string()}));
            events.push((p.created + Duration::hours(3), ev, ctx(i)));
        }
        if p.status == PaymentStatus::Cancelled {
            let ev = AuditEvent::new(
                operator.clone(),
                "payment.cancel",
                "payment",
                Some(p.id.to_string()),
            )
            .metadata(json!({"reason": "Duplicate instruction", "reference": p.reference}));
            events.push((
                p.created + Duration::seconds(2 + (i % 40) as i64),
                ev,
                ctx(i),
            ));
        }
    }
    // The controls `seed_controls` left, as the Controls page would have audited them.
    let control_time = w.end() - Duration::hours(5);
    let control = |action: &str, entity: String, meta: serde_json::Value, severity| {
        AuditEvent::new(operator.clone(), action, "control", Some(entity))
            .metadata(meta)
            .severity(severity)
    };
    let reason = |r: &str| json!({ "reason": r });
    events.push((
        control_time,
        control(
            "control.freeze",
            format!("bank:{}", w.bank_ids[23]),
            reason("Sanctions list match under investigation"),
            Severity::Warning,
        ),
        ctx(1),
    ));
    events.push((
        control_time,
        control(
            "control.throttle",
            format!("account:{}", w.accounts[17][0]),
            reason("Unusual outbound velocity"),
            Severity::Warning,
        ),
        ctx(1),
    ));
    events.push((
        control_time,
        control(
            "control.throttle",
            format!("bank:{}", w.bank_ids[21]),
            reason("KYC refresh overdue"),
            Severity::Warning,
        ),
        ctx(1),
    ));
    events.push((
        control_time + Duration::minutes(30),
        control(
            "control.block_requested",
            format!("bank:{}", w.bank_ids[19]),
            reason("Repeated sanctions hits on outbound payments"),
            Severity::Notice,
        ),
        ctx(2),
    ));
    events.sort_by_key(|e| e.0);

    let (mut id, mut previous): (i64, String) =
        sqlx::query_as("SELECT last_id, last_hash FROM deltran.audit_head FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    if id == 0 {
        previous = GENESIS_HASH.to_string();
    }
    let mut out = String::new();
    for (idx, (at, ev, c)) in events.iter().enumerate() {
        id += 1;
        let mut row = AuditRow::build(id, &previous, ev, c, *at);
        // Deterministic event ids, so the whole seed is reproducible.
        row.event_id = w.gen.uuid(idx as u64, S_AUDIT ^ 0xE7);
        row.event_hash = row.compute_hash();
        let opt = |v: &Option<String>| v.as_deref().map(esc).unwrap_or_else(|| "\\N".into());
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            row.id,
            row.event_id,
            esc(&row.event_type),
            row.severity,
            row.actor_id
                .map(|u| u.to_string())
                .unwrap_or_else(|| "\\N".into()),
            row.actor_type,
            esc(&row.actor_name),
            esc(&row.action),
            esc(&row.resource_type),
            opt(&row.resource_id),
            row.result,
            opt(&row.error_message),
            opt(&row.ip_address),
            opt(&row.user_agent),
            opt(&row.request_id),
            esc(&row.metadata),
            row.previous_hash,
            row.event_hash,
            row.timestamp.format("%Y-%m-%d %H:%M:%S%.6f+00"),
        );
        previous = row.event_hash;
    }
    copy_bytes(
        tx,
        "COPY deltran.audit_log (id, event_id, event_type, severity, actor_id, actor_type, actor_name, \
         action, resource_type, resource_id, result, error_message, ip_address, user_agent, request_id, \
         metadata, previous_hash, event_hash, \"timestamp\") FROM STDIN",
        out.into_bytes(),
    )
    .await?;
    sqlx::query("UPDATE deltran.audit_head SET last_id = $1, last_hash = $2, updated_at = now()")
        .bind(id)
        .bind(&previous)
        .execute(&mut *tx)
        .await?;
    Ok(events.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_hundredths() {
        assert_eq!(money(12_345), "123.45");
        assert_eq!(money(5), "0.05");
    }

    #[test]
    fn the_generator_is_deterministic_and_spread() {
        let g = Gen(SEED);
        assert_eq!(g.at(1, 2), Gen(SEED).at(1, 2));
        assert_ne!(g.at(1, 2), g.at(2, 2));
        let mean = (0..10_000).map(|i| g.unit(i, 1)).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn copy_text_is_escaped() {
        assert_eq!(esc("a\tb\nc\\"), "a\\tb\\nc\\\\");
    }
}
