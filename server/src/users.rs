//! `deltran-console user create`: creates a console user from the command line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use app::{
    backend::{
        audit::Actor,
        db::users::{self, NewUser},
        passwords,
    },
    domain::{parse_email, parse_username, Role},
    error::AppError,
};
use sqlx::PgPool;
use uuid::Uuid;

/// Reads the password from standard input (first line), or prompts twice on a terminal.
pub fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let ask = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    let first = ask("Password: ")?;
    if ask("Repeat password: ")? != first {
        bail!("the passwords differ");
    }
    Ok(first)
}

/// Validates everything first, then creates the user and its audit row in one transaction.
pub async fn create(
    db: &PgPool,
    username: &str,
    email: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<Uuid> {
    let username = parse_username(username).map_err(|e| anyhow::anyhow!("--username: {e}"))?;
    let email = parse_email(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    passwords::check_strength(password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let password_hash = passwords::hash(password.to_string()).await?;
    let mut tx = db.begin().await?;
    let user = NewUser {
        username,
        email,
        role,
        password_hash,
    };
    let id = users::create(&mut tx, &user, Actor::system("cli"))
        .await
        .map_err(|e| match e {
            AppError::Validation { field_errors } => anyhow::anyhow!(field_errors
                .into_iter()
                .map(|(f, m)| format!("--{f}: {m}"))
                .collect::<Vec<_>>()
                .join("; ")),
            other => anyhow::anyhow!(other.to_string()),
        })?;
    tx.commit().await?;
    Ok(id)
}
