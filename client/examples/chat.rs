//! A chat in the terminal; run it in two terminals, as two users:
//!
//! ```sh
//! cargo run -p chat-client --example chat -- --signup alice 'alice password' --with bob
//! cargo run -p chat-client --example chat -- --signup bob 'bob password' --with alice
//! ```
//!
//! Options: `--url http://127.0.0.1:8080` (the default), `--grpc` (a gRPC `Session` instead
//! of a WebSocket), `--signup` (create the account first), `--with USERNAME` (the direct room
//! with them) or `--room ID`. Lines typed are sent through the outbox (they survive a
//! dropped connection); messages arrive once and in order, recovered after reconnects.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;

use anyhow::{Context as _, bail};
use chat_client::{
    Client, ConnectionState, Event, HttpApi, Options, OutboxState, Session, Transport,
    v1::{self, client_frame::Command, server_frame::Payload},
};
use tokio::io::{AsyncBufReadExt as _, BufReader};

struct Args {
    url: String,
    username: String,
    password: String,
    signup: bool,
    grpc: bool,
    with: Option<String>,
    room: Option<u64>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        username: String::new(),
        password: String::new(),
        signup: false,
        grpc: false,
        with: None,
        room: None,
    };
    let mut positional = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => a.url = it.next().context("--url needs a value")?,
            "--signup" => a.signup = true,
            "--grpc" => a.grpc = true,
            "--with" => a.with = Some(it.next().context("--with needs a username")?),
            "--room" => a.room = Some(it.next().context("--room needs an id")?.parse()?),
            _ => positional.push(arg),
        }
    }
    let [username, password] = <[String; 2]>::try_from(positional)
        .map_err(|_| anyhow::anyhow!("usage: chat [--signup] [--grpc] [--url URL] USERNAME PASSWORD (--with USERNAME | --room ID)"))?;
    (a.username, a.password) = (username, password);
    if a.with.is_none() && a.room.is_none() {
        bail!("say which room: --with USERNAME or --room ID");
    }
    Ok(a)
}

/// The room to chat in: the given one, or the direct room with `--with`.
async fn room(client: &Client, a: &Args, names: &mut HashMap<u64, String>) -> anyhow::Result<u64> {
    if let Some(room) = a.room {
        return Ok(room);
    }
    let username = a.with.clone().unwrap_or_default();
    let Payload::User(peer) = client
        .request(Command::GetUser(v1::GetUserRequest {
            username,
            user_id: 0,
        }))
        .await?
    else {
        bail!("unexpected reply");
    };
    names.insert(peer.id, peer.display_name);
    let command = Command::CreateDirectRoom(v1::CreateDirectRoomRequest { peer_id: peer.id });
    match client.request(command).await? {
        Payload::Room(r) => Ok(r.id),
        other => bail!("unexpected reply {other:?}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let http = HttpApi::new(&a.url);
    let tokens = if a.signup {
        http.signup(&a.username, &a.username, &a.password).await?
    } else {
        http.login(&a.username, &a.password).await?
    };
    let me = tokens.user.clone().context("no user in the answer")?;
    let mut options = Options::new(&a.url);
    if a.grpc {
        options.dial.transport = Transport::Grpc;
    }
    let (client, mut events) = Client::connect(options, Session::new(http, tokens));
    let mut names = HashMap::from([(me.id, me.display_name.clone())]);
    loop {
        match events.recv().await {
            Some(Event::Ready(_)) => break,
            Some(Event::SignedOut(e) | Event::Closed(e)) => bail!("cannot connect: {e}"),
            Some(_) => {}
            None => bail!("the client stopped"),
        }
    }
    let room = room(&client, &a, &mut names).await?;
    let opened = client.open_room(room).await?;
    for m in opened.members {
        if let Some(u) = m.user {
            names.insert(u.id, u.display_name);
        }
    }
    let page = client.history(room, 0, 10).await?;
    for m in page.messages.iter().rev() {
        println!("{}: {}", names.get(&m.sender_id).map_or("?", |n| n), m.body);
    }
    eprintln!("[room {room}: type to send, Ctrl-D to quit]");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if !line.trim().is_empty() => {
                    client.send(room, &line, vec![])?;
                }
                Some(_) => {}
                None => break,
            },
            event = events.recv() => match event {
                Some(Event::Message(m)) if m.sender_id != me.id => {
                    println!("{}: {}", names.get(&m.sender_id).map_or("?", |n| n), m.body);
                }
                Some(Event::State(s)) if s != ConnectionState::Online => eprintln!("[{s:?}]"),
                Some(Event::Outbox(u)) => {
                    if let OutboxState::Failed(e) = u.state {
                        eprintln!("[not sent: {e}]");
                    }
                }
                Some(Event::SignedOut(e) | Event::Closed(e)) => bail!("disconnected for good: {e}"),
                Some(_) => {}
                None => break,
            },
        }
    }
    // Give what is still in the outbox a moment to go.
    while !client.unsent().await?.is_empty() {
        match tokio::time::timeout(std::time::Duration::from_secs(5), events.recv()).await {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    client.close();
    Ok(())
}
