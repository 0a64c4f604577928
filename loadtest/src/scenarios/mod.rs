//! The scenarios, and what they share: targets, accounts, progress bars.

mod connections;
mod fanout;
mod history;
mod timeline;
mod verify;

use std::time::Duration;

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    accounts::{Account, Accounts},
    cli::{Cli, CodecArg, Scenario, TransportArg},
    report::Report,
};

/// Runs the chosen scenario.
pub async fn run(cli: &Cli) -> anyhow::Result<Report> {
    match cli.scenario.clone() {
        Scenario::Connections {
            count,
            ramp_per_sec,
            hold_secs,
            users,
        } => {
            connections::run(
                cli,
                count,
                ramp_per_sec,
                Duration::from_secs(hold_secs),
                users,
            )
            .await
        }
        Scenario::Fanout {
            rooms,
            members,
            senders,
            rate,
            duration_secs,
            body_bytes,
        } => {
            let d = Duration::from_secs(duration_secs);
            fanout::run(
                cli,
                fanout::Params::fanout(rooms, members, senders, rate, d, body_bytes),
            )
            .await
        }
        Scenario::Mixed {
            rooms,
            members,
            senders,
            rate,
            duration_secs,
            idle,
            open_percent,
            read_every,
            typing_every,
        } => {
            let d = Duration::from_secs(duration_secs);
            let base = fanout::Params::fanout(rooms, members, senders, rate, d, 100);
            let params = fanout::Params {
                open_percent,
                read_every,
                typing_every,
                idle,
                ..base
            };
            fanout::run(cli, params).await
        }
        Scenario::History {
            rooms,
            messages,
            pages,
            page_size,
        } => history::run(cli, rooms, messages, pages, page_size).await,
        Scenario::Timeline {
            rooms,
            members,
            entries,
            reply_percent,
            react_percent,
            edit_percent,
        } => {
            let params = timeline::Params {
                rooms,
                members,
                entries,
                mix: (reply_percent, react_percent, edit_percent),
            };
            timeline::run(cli, params).await
        }
        other => run_checked(cli, other).await,
    }
}

/// The scenarios that check what they did (exactly-once delivery, the timeline's state) or
/// read (history).
async fn run_checked(cli: &Cli, scenario: Scenario) -> anyhow::Result<Report> {
    match scenario {
        Scenario::Verify {
            rooms,
            senders,
            readers,
            rate,
            duration_secs,
            drain_secs,
        } => {
            let params = verify::Params {
                rooms,
                senders,
                readers,
                rate,
                duration: Duration::from_secs(duration_secs),
                drain: Duration::from_secs(drain_secs),
            };
            verify::run(cli, params).await
        }
        other => anyhow::bail!("not a checked scenario: {other:?}"),
    }
}

/// The target (node base URL) for client number `i`.
fn target(cli: &Cli, i: usize) -> &str {
    &cli.target[i % cli.target.len()]
}

/// Users `<prefix>_u_<i>` for i in 0..count, reused across runs and scenarios.
async fn users(cli: &Cli, count: usize) -> anyhow::Result<Vec<Account>> {
    let bar = progress(cli, count as u64, "users");
    let accounts = Accounts::new(target(cli, 0));
    let result = accounts.ensure_many(&cli.user_prefix, "u", count).await;
    bar.finish_and_clear();
    result
}

/// Users `<prefix>_u_<first + i>` for i in 0..count.
async fn users_after(cli: &Cli, first: usize, count: usize) -> anyhow::Result<Vec<Account>> {
    Accounts::new(target(cli, 0))
        .ensure_range(&cli.user_prefix, "u", first, count)
        .await
}

/// The halves of one connection, from the client crate integrators use (chat-client): the
/// load generator measures the code they run.
pub(crate) use chat_client::conn::{FrameReceiver as Receiver, FrameSender as Sender};

/// `127.0.0.(1 + i % n)`: spreads source ports over several loopback addresses.
fn source_ip(i: usize, n: u8) -> std::net::IpAddr {
    let last = 1 + (i % usize::from(n)) as u8;
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last))
}

/// How client `i` dials.
fn dial(cli: &Cli, i: usize) -> chat_client::Dial {
    chat_client::Dial {
        transport: match cli.transport {
            TransportArg::Ws => chat_client::Transport::WebSocket,
            TransportArg::Grpc => chat_client::Transport::Grpc,
        },
        wire: match cli.codec {
            CodecArg::Proto => chat_client::Wire::Binary,
            CodecArg::Json => chat_client::Wire::Json,
        },
        source: Some(source_ip(i, cli.source_addrs)),
    }
}

/// Connects client `i` as `account`.
async fn connect(cli: &Cli, i: usize, account: &Account) -> anyhow::Result<(Sender, Receiver)> {
    let (tx, rx, _) =
        chat_client::conn::connect(target(cli, i), &account.access_token, dial(cli, i)).await?;
    Ok((tx, rx))
}

/// Sends a command and waits for its reply.
async fn call(tx: &mut Sender, rx: &mut Receiver, command: Command) -> anyhow::Result<Payload> {
    let id = tx.send(command).await?;
    Ok(rx.reply(id).await?)
}

/// Creates a group room owned by `owner` with `members`.
async fn create_group(
    tx: &mut Sender,
    rx: &mut Receiver,
    name: &str,
    members: Vec<u64>,
) -> anyhow::Result<v1::Room> {
    match call(
        tx,
        rx,
        Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
            name: name.into(),
            member_ids: members,
            ..Default::default()
        }),
    )
    .await?
    {
        Payload::Room(r) => Ok(r),
        other => anyhow::bail!("create room failed: {other:?}"),
    }
}

/// Opens a room on a connection.
async fn open(tx: &mut Sender, rx: &mut Receiver, room: u64) -> anyhow::Result<u64> {
    match call(
        tx,
        rx,
        Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room,
            since_seq: 0,
        }),
    )
    .await?
    {
        Payload::RoomOpened(o) => Ok(o.room.map_or(0, |r| r.last_seq)),
        other => anyhow::bail!("open room failed: {other:?}"),
    }
}

fn progress(cli: &Cli, len: u64, what: &str) -> ProgressBar {
    if cli.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {msg:<14} [{bar:40}] {pos}/{len} ({per_sec}, {elapsed})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
