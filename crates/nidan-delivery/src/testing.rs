//! A minimal SMTP server for tests (feature `test-smtp`), so this crate's tests and other crates'
//! end-to-end tests can send real email over loopback TCP and read what arrived.
//!
//! It speaks just enough of RFC 5321 for `lettre`: greeting, EHLO/HELO, AUTH PLAIN and LOGIN
//! (recording the credentials, accepting any), MAIL FROM, RCPT TO, DATA with dot-unstuffing,
//! RSET, NOOP and QUIT. No TLS: point the courier at `smtp://127.0.0.1:<port>`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use data_encoding::BASE64;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without the angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without the angle brackets.
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
    /// The `(user, password)` the client authenticated with on that connection, if it did.
    pub auth: Option<(String, String)>,
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    mail_commands: usize,
}

/// A running test SMTP server; stops when dropped.
pub struct TestSmtpServer {
    /// Where it listens (`127.0.0.1:<port>`).
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for TestSmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TestSmtpServer {
    /// A server that accepts every message.
    pub async fn start() -> TestSmtpServer {
        TestSmtpServer::spawn(false).await
    }

    /// A server that answers `451` (try again later) to every `MAIL FROM`.
    pub async fn start_failing() -> TestSmtpServer {
        TestSmtpServer::spawn(true).await
    }

    async fn spawn(failing: bool) -> TestSmtpServer {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("test SMTP server: cannot listen on loopback: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("test SMTP server: no local address: {e}"),
        };
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    // A client that hangs up mid-session is not the server's problem.
                    let _ = session(stream, state, failing).await;
                });
            }
        });
        TestSmtpServer { addr, state, task }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.state).messages.clone()
    }

    /// How many `MAIL FROM` commands arrived (accepted or refused): one per delivery try.
    pub fn mail_commands(&self) -> usize {
        lock(&self.state).mail_commands
    }
}

fn unbracket(arg: &str) -> String {
    let arg = arg.trim();
    let end = arg.find('>').map_or(arg.len(), |i| i + 1);
    arg[..end]
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn b64(text: &str) -> String {
    BASE64
        .decode(text.trim().as_bytes())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

async fn session(
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    failing: bool,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let mut auth: Option<(String, String)> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();

    async fn read_line(
        reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<Option<String>> {
        buf.clear();
        if reader.read_until(b'\n', buf).await? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(buf);
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
    }

    write.write_all(b"220 nidan-test ESMTP ready\r\n").await?;
    while let Some(command) = read_line(&mut reader, &mut line).await? {
        let (verb, arg) = command.split_once(' ').unwrap_or((command.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                "250-nidan-test\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
            }
            "HELO" => "250 nidan-test\r\n".into(),
            "AUTH" => {
                let mut parts = arg.split_whitespace();
                let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
                let initial = parts.next().map(str::to_owned);
                match mechanism.as_str() {
                    "PLAIN" => {
                        let token = match initial {
                            Some(t) => t,
                            None => {
                                write.write_all(b"334 \r\n").await?;
                                read_line(&mut reader, &mut line).await?.unwrap_or_default()
                            }
                        };
                        let decoded = b64(&token);
                        let mut fields = decoded.split('\0');
                        let _authzid = fields.next();
                        let user = fields.next().unwrap_or("").to_owned();
                        let password = fields.next().unwrap_or("").to_owned();
                        auth = Some((user, password));
                        "235 2.7.0 Authentication succeeded\r\n".into()
                    }
                    "LOGIN" => {
                        let user = match initial {
                            Some(t) => b64(&t),
                            None => {
                                write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                                b64(&read_line(&mut reader, &mut line).await?.unwrap_or_default())
                            }
                        };
                        write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                        let password =
                            b64(&read_line(&mut reader, &mut line).await?.unwrap_or_default());
                        auth = Some((user, password));
                        "235 2.7.0 Authentication succeeded\r\n".into()
                    }
                    _ => "504 5.5.4 Unrecognized authentication type\r\n".into(),
                }
            }
            "MAIL" => {
                lock(&state).mail_commands += 1;
                if failing {
                    "451 4.3.0 Try again later\r\n".into()
                } else {
                    let address = arg.split_once(':').map_or("", |(_, a)| a);
                    from = Some(unbracket(address));
                    to.clear();
                    "250 2.1.0 OK\r\n".into()
                }
            }
            "RCPT" => match from {
                Some(_) => {
                    let address = arg.split_once(':').map_or("", |(_, a)| a);
                    to.push(unbracket(address));
                    "250 2.1.5 OK\r\n".into()
                }
                None => "503 5.5.1 MAIL first\r\n".into(),
            },
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    "503 5.5.1 MAIL and RCPT first\r\n".into()
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let mut data = String::new();
                    loop {
                        let Some(l) = read_line(&mut reader, &mut line).await? else {
                            return Ok(());
                        };
                        if l == "." {
                            break;
                        }
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        data.push_str("\r\n");
                    }
                    let mail = ReceivedMail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                        auth: auth.clone(),
                    };
                    lock(&state).messages.push(mail);
                    "250 2.0.0 OK queued\r\n".into()
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}
