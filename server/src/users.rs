//! `deltran-console user create`: creates a console user from the command line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use app::{
    backend::{audit::Actor, users},
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

/// Creates the user (validated first, then written with its audit row in one transaction);
/// unlike the Users page, the command line may create an admin, which is how the first one
/// comes to exist.
pub async fn create(
    db: &PgPool,
    username: &str,
    email: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<Uuid> {
    let input = users::NewUserInput {
        username,
        email,
        role,
        password,
    };
    users::create(
        db,
        input,
        Actor::system("cli"),
        users::AdminCreation::Allowed,
    )
    .await
    .map_err(|e| match e {
        AppError::Validation { field_errors } => anyhow::anyhow!(field_errors
            .into_iter()
            .map(|(f, m)| match f.as_str() {
                "password" => format!("password: {m}"),
                _ => format!("--{f}: {m}"),
            })
            .collect::<Vec<_>>()
            .join("; ")),
        other => anyhow::anyhow!(other.to_string()),
    })
}
