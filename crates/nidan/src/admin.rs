//! `nidan admin …`: the operator's tools. Each command opens the store and the keys like the
//! server does (same wiring, same rules), calls one use case, and prints a short answer.
//!
//! Output goes to standard output, notes and errors to standard error, so that
//! `KEY=$(nidan admin api-key create app)` captures just the key. Nothing printed here is a
//! secret except that one key, printed once. Text that came from clients (user agents, reasons)
//! is printed escaped, so it cannot smuggle terminal control sequences onto the operator's screen.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, bail};
use nidan_service::Service;
use nidan_service::admin::AccountOverview;
use nidan_service::ports::ActivityRecord;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::cli::{
    AddUser, AdminCommand, ApiKeyCommand, AuditCommand, OidcClientCommand, OidcCommand,
    TotpCommand, UserCommand,
};
use crate::config::Config;
use crate::{keyfile, totp_csv, wiring};

/// Runs one admin command.
pub async fn run(command: AdminCommand, config: Config) -> Result<()> {
    wiring::ensure_data_dir(&config)?;
    if let AdminCommand::RotateKey = command {
        return rotate_key(&config).await;
    }
    if let AdminCommand::Backup { file } = &command {
        let size = nidan_store::backup_sqlite(&config.database.url, file)
            .with_context(|| format!("backup to {}", file.display()))?;
        println!(
            "backed up {} ({size} bytes) to {}",
            nidan_store::redact_url(&config.database.url),
            file.display()
        );
        eprintln!(
            "The copy holds no key: keep the key file ({}) backed up apart from it; a restore \
             needs both.",
            config.secrets.key_file.display()
        );
        return Ok(());
    }
    // Read what the command needs from the operator before any slow set-up, so a mistake is
    // reported at once and nothing is half done.
    let password = match &command {
        AdminCommand::User(UserCommand::Add(AddUser {
            password_stdin: true,
            ..
        })) => Some(read_password_line()?),
        _ => None,
    };
    let import = match &command {
        AdminCommand::Totp(TotpCommand::Import { file }) => Some(read_import(file)?),
        _ => None,
    };
    let service = open_service(&config).await?;

    match command {
        AdminCommand::User(UserCommand::Add(AddUser { email, .. })) => {
            let user = service.admin_add_user(&email, password).await?;
            println!("added {} (id {})", user.email, user.id);
        }
        AdminCommand::User(UserCommand::Show { email }) => {
            let overview = service.admin_show_user(&email).await?;
            print!("{}", describe(&overview));
        }
        AdminCommand::User(UserCommand::Reset2fa { email, reason }) => {
            let operator = operator_name();
            service
                .admin_reset_two_step(&email, &reason, &operator)
                .await?;
            println!(
                "two-step verification reset for {email}: every method, recovery code, \
                 remembered device and session removed (recorded as done by {operator})"
            );
        }
        AdminCommand::User(UserCommand::Unlock { email }) => {
            let operator = operator_name();
            service.admin_unlock(&email, &operator).await?;
            println!(
                "unlocked {email}: wrong passwords and wrong codes no longer hold its sign-in \
                 back (recorded as done by {operator})"
            );
        }
        AdminCommand::User(UserCommand::List { query, json, limit }) => {
            for row in service.admin_list_users(&query, limit).await? {
                let u = &row.user;
                if json {
                    let line = serde_json::json!({
                        "id": u.id.to_string(),
                        "email": u.email,
                        "two_step": row.state.to_string(),
                        "disabled": u.disabled_at.is_some(),
                        "created_at": rfc3339(u.created_at),
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{:<40} {:<5} {:<9} {}",
                        u.email.escape_debug().to_string(),
                        row.state.to_string(),
                        if u.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        },
                        rfc3339(u.created_at)
                    );
                }
            }
        }
        AdminCommand::User(UserCommand::Disable { email, reason }) => {
            let operator = operator_name();
            service
                .admin_set_disabled(&email, true, &reason, &operator)
                .await?;
            println!(
                "disabled {email}: it cannot sign in or be verified, and its sessions ended \
                 (recorded as done by {operator})"
            );
        }
        AdminCommand::User(UserCommand::Enable { email }) => {
            let operator = operator_name();
            service
                .admin_set_disabled(&email, false, "", &operator)
                .await?;
            println!("enabled {email} (recorded as done by {operator})");
        }
        AdminCommand::User(UserCommand::Delete { email, reason }) => {
            let operator = operator_name();
            service
                .admin_delete_user(&email, &reason, &operator)
                .await?;
            println!("deleted {email} and everything of it (logged as done by {operator})");
        }
        AdminCommand::User(UserCommand::TwoStepOff {
            email,
            reason,
            until,
        }) => {
            let until = until.as_deref().map(parse_until).transpose()?;
            let operator = operator_name();
            let until = service
                .admin_two_step_off(&email, &reason, &operator, until)
                .await?;
            println!(
                "two-step verification is off for {email} until {}, methods kept; it turns back \
                 on by itself then (recorded as done by {operator})",
                rfc3339(until)
            );
        }
        AdminCommand::User(UserCommand::Groups {
            email,
            action,
            group,
        }) => {
            let operator = operator_name();
            let add = action == "add";
            service.admin_group(&email, &group, add, &operator).await?;
            let done = if add { "added to" } else { "removed from" };
            println!("{email} {done} group {group} (recorded as done by {operator})");
        }
        AdminCommand::User(UserCommand::Activity { email, limit }) => {
            for event in service.admin_activity(&email, limit).await? {
                println!("{}", activity_line(&event));
            }
        }
        AdminCommand::ApiKey(ApiKeyCommand::List) => {
            for key in service.list_api_keys().await? {
                println!(
                    "{:<24} {:<18} created {}  last used {}",
                    key.name.escape_debug().to_string(),
                    key.scopes,
                    rfc3339(key.created_at),
                    key.last_used_at.map_or_else(|| "never".to_owned(), rfc3339)
                );
            }
        }
        AdminCommand::ApiKey(ApiKeyCommand::Create { name, scope }) => {
            let scopes: Vec<&str> = scope.iter().map(|s| s.trim()).collect();
            let (record, key) = service.create_api_key(&name, &scopes).await?;
            println!("{}", key.expose());
            eprintln!(
                "API key `{}` created. It is shown only this once: store it in the app's \
                 secrets now; nidan keeps only its hash.",
                record.name
            );
        }
        AdminCommand::ApiKey(ApiKeyCommand::Revoke { name }) => {
            service.revoke_api_key(&name).await?;
            println!("revoked API key `{name}` (a running server refuses it within a second)");
        }
        AdminCommand::Totp(TotpCommand::Import { file }) => {
            let rows = import.unwrap_or_default();
            let n = service
                .admin_import_totp(rows)
                .await
                .with_context(|| format!("{}: nothing imported", file.display()))?;
            println!("imported {n}");
        }
        AdminCommand::Oidc(OidcCommand::Client(OidcClientCommand::Add {
            name,
            redirect_uris,
            public,
            first_party,
            eddsa,
        })) => {
            let new = nidan_service::oidc::clients::NewClient {
                id: name.clone(),
                redirect_uris,
                public,
                first_party,
                eddsa,
            };
            match service.add_oidc_client(new).await? {
                Some(secret) => {
                    println!("{secret}");
                    eprintln!(
                        "client `{name}` registered. Its secret is shown only this once: give \
                         it to the app now; nidan keeps only its hash."
                    );
                }
                None => eprintln!("public client `{name}` registered (no secret; PKCE required)"),
            }
        }
        AdminCommand::Oidc(OidcCommand::Client(OidcClientCommand::List)) => {
            for c in service.oidc_clients().await? {
                let kind = if c.secret_digest.is_some() {
                    "confidential"
                } else {
                    "public"
                };
                let party = if c.first_party {
                    "first-party"
                } else {
                    "consent"
                };
                println!(
                    "{:<24} {kind:<12} {party:<11} {:<5} created {}  {}",
                    c.id,
                    c.id_token_alg,
                    rfc3339(c.created_at),
                    c.redirect_uris.join(" ")
                );
            }
        }
        AdminCommand::Oidc(OidcCommand::Client(OidcClientCommand::Remove { name })) => {
            service.remove_oidc_client(&name).await?;
            println!("removed client `{name}` with its codes and tokens");
        }
        AdminCommand::Audit(AuditCommand::Export { since, until }) => {
            let since = parse_until(&since).context("--since")?;
            let until = match until {
                Some(u) => parse_until(&u).context("--until")?,
                None => service.now() + 1,
            };
            let mut after = 0;
            let mut out = std::io::stdout().lock();
            loop {
                let page = service.audit_page(since, until, after, 1000).await?;
                let Some((last, _)) = page.last() else { break };
                after = last.id;
                for (e, email) in &page {
                    let line = nidan_service::webhooks::event_json(e, email);
                    use std::io::Write as _;
                    writeln!(out, "{line}").context("writing the export")?;
                }
            }
        }
        AdminCommand::Oidc(OidcCommand::RotateKeys) => {
            let kids = service.rotate_signing_keys().await?;
            println!(
                "new signing keys {}; the old ones stay published for a day",
                kids.join(", ")
            );
        }
        AdminCommand::RotateKey | AdminCommand::Backup { .. } => {}
    }
    Ok(())
}

/// `--until`: a date `YYYY-MM-DD` (midnight UTC that day) or an RFC 3339 time.
fn parse_until(text: &str) -> Result<i64> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(text, &format) {
        Ok(date) => Ok(date.midnight().assume_utc().unix_timestamp()),
        Err(_) => bail!("--until: `{text}` is neither a date YYYY-MM-DD nor an RFC 3339 time"),
    }
}

/// Opens the keys and the store (applying migrations) and builds the service.
async fn open_service(config: &Config) -> Result<Service> {
    let keys = wiring::load_keys(config)?;
    let store = wiring::open_store(config)
        .await
        .with_context(|| format!("database {}", nidan_store::redact_url(&config.database.url)))?;
    wiring::service(config, store, keys.secrets()).await
}

/// Adds a seal key version, then re-seals every seed under it. The new key is written first:
/// if re-sealing stops half way, every seed is still sealed under a key the file holds, and
/// running the command again finishes the job.
async fn rotate_key(config: &Config) -> Result<()> {
    // Make sure the key file and the database exist and work before changing anything.
    let current = wiring::load_keys(config)?;
    let store = wiring::open_store(config)
        .await
        .with_context(|| format!("database {}", nidan_store::redact_url(&config.database.url)))?;
    drop(current);
    let (keys, version) = keyfile::rotate(&config.secrets.key_file)?;
    eprintln!(
        "added seal key version {version} to {}",
        config.secrets.key_file.display()
    );
    let service = wiring::service(config, store, keys.secrets()).await?;
    drop(keys);
    let n = service.admin_reseal_all().await?;
    println!("re-sealed {n} TOTP seeds under key version {version}");
    eprintln!(
        "restart running `nidan serve` processes now: until they load the new key they cannot \
         check the codes of re-sealed seeds"
    );
    Ok(())
}

/// The password from the first line of standard input, without its line ending.
fn read_password_line() -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    if read == 0 {
        bail!("--password-stdin: standard input is empty; pipe the password in");
    }
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

/// Reads and splits the import file; a shape error names the file and the line.
fn read_import(file: &Path) -> Result<Vec<totp_csv::Row>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    totp_csv::parse(&text).with_context(|| format!("{}: nothing imported", file.display()))
}

/// Who is running the command, for the history of a support reset. Informational only: whoever
/// can run this has the server's authority anyway.
fn operator_name() -> String {
    ["SUDO_USER", "USER"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "operator".to_owned())
}

/// The `user show` summary.
fn describe(o: &AccountOverview) -> String {
    let user = &o.user;
    let listed: Vec<String> = o
        .methods
        .iter()
        .map(|(m, hint)| match hint {
            Some(h) => format!("{} ({h})", m.as_str()),
            None => m.as_str().to_owned(),
        })
        .collect();
    let methods = if listed.is_empty() {
        "-".to_owned()
    } else {
        listed.join(", ")
    };
    let default_method = user.default_method.map_or("-", |m| m.as_str());
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let rows = [
        ("id", user.id.to_string()),
        ("email", user.email.clone()),
        ("created", rfc3339(user.created_at)),
        (
            "password",
            (if user.password_hash.is_some() {
                "set"
            } else {
                "none (app-only)"
            })
            .to_owned(),
        ),
        ("two-step", o.state.to_string()),
        ("methods", methods.to_owned()),
        ("default method", default_method.to_owned()),
        ("recovery codes left", o.recovery_codes_left.to_string()),
        ("sessions", o.sessions.to_string()),
        ("devices", o.devices.to_string()),
        ("locked", yes_no(o.locked).to_owned()),
        (
            "disabled",
            user.disabled_at
                .map_or_else(|| "no".to_owned(), |t| format!("since {}", rfc3339(t))),
        ),
        (
            "two-step off until",
            user.two_step_off_until
                .map_or_else(|| "-".to_owned(), rfc3339),
        ),
        (
            "groups",
            if o.groups.is_empty() {
                "-".to_owned()
            } else {
                o.groups.join(", ")
            },
        ),
        ("failed attempts", user.failed_attempts.to_string()),
    ];
    rows.iter()
        .map(|(name, value)| format!("{:<20} {value}\n", format!("{name}:")))
        .collect()
}

/// One `user activity` line: time, kind, method, result, ip, user agent, country, detail.
fn activity_line(e: &ActivityRecord) -> String {
    let mut line = format!(
        "{}  {}  {}  {}  ip={}  ua={:?}",
        rfc3339(e.at),
        e.kind,
        e.method.as_deref().unwrap_or("-"),
        e.result,
        e.ip.escape_debug(),
        e.user_agent,
    );
    if let Some(country) = &e.country {
        line.push_str(&format!("  country={country:?}"));
    }
    if let Some(detail) = &e.detail {
        line.push_str(&format!("  detail={detail:?}"));
    }
    line
}

/// Unix seconds as RFC 3339 UTC; the raw number if it is out of range.
fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn client_text_is_escaped_in_activity_lines() {
        let e = ActivityRecord {
            id: 1,
            user_id: nidan_service::UserId::new("u"),
            at: 0,
            kind: "sign_in".into(),
            method: None,
            result: "failure".into(),
            ip: "192.0.2.1".into(),
            user_agent: "evil\u{1b}[2J".into(),
            detail: Some("line\nbreak".into()),
            country: Some("JP".into()),
        };
        let line = activity_line(&e);
        assert!(!line.contains('\u{1b}') && !line.contains('\n'), "{line}");
        assert!(line.starts_with("1970-01-01T00:00:00Z  sign_in  -  failure  ip=192.0.2.1"));
    }
}
