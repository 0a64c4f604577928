//! The client's task: dial, serve the connection until it ends, decide by the close code
//! whether and when to dial again. One connection at a time; everything else (rooms, the
//! outbox) outlives it.

use tokio::time::{Instant, sleep_until};

use crate::{
    conn::{self, Closed},
    error::ClientError,
    live::Live,
    shared::{Ended, Task, refused, spawn_reader},
    types::{Cmd, ConnectionState, Event},
};

/// Close codes after which reconnecting cannot help.
const FATAL: [u16; 2] = [4102, 4103];
/// Close codes asking to reconnect at once (elsewhere) rather than after backoff.
const RECONNECT_NOW: [u16; 3] = [4000, 4003, 4100];

impl Task {
    pub async fn run(mut self) {
        while !self.stopped {
            self.set_state(ConnectionState::Connecting);
            let ended = match self.dial().await {
                Ok(live) => live.serve(&mut self).await,
                Err(e) => refused(e),
            };
            self.outbox.disconnected();
            self.rooms.disconnected();
            match ended {
                Ended::Stopped => break,
                Ended::SignedOut(e) => {
                    self.set_state(ConnectionState::Closed);
                    self.emit(Event::SignedOut(e));
                    self.stopped = true;
                }
                Ended::Closed(c) => self.after_close(c).await,
            }
        }
        self.set_state(ConnectionState::Closed);
    }

    async fn dial(&mut self) -> Result<Live, ClientError> {
        let token = self.tokens.token(self.need_fresh_token).await?;
        self.need_fresh_token = false;
        let connect = conn::connect(&self.o.base, &token.token, self.o.dial);
        let (tx, rx, authenticated) = tokio::time::timeout(self.o.connect_timeout, connect)
            .await
            .map_err(|_| ClientError::Timeout)??;
        self.attempt = 0;
        self.set_state(ConnectionState::Online);
        Ok(Live::new(tx, spawn_reader(rx), token, authenticated))
    }

    /// Decides after a close: stop, reconnect now, or back off (answering the app meanwhile).
    async fn after_close(&mut self, c: Closed) {
        if c.code == 4101 {
            self.set_state(ConnectionState::Closed);
            self.emit(Event::SignedOut(ClientError::Server {
                code: 16,
                reason: "AUTH_REVOKED".into(),
                message: c.reason,
                retryable: false,
                retry_after_ms: 0,
            }));
            self.stopped = true;
            return;
        }
        if FATAL.contains(&c.code) {
            let reason = if c.code == 4103 {
                "TOO_MANY_CONNECTIONS"
            } else {
                "PROTOCOL_ERROR"
            };
            self.set_state(ConnectionState::Closed);
            self.emit(Event::Closed(ClientError::Server {
                code: 8,
                reason: reason.into(),
                message: c.reason,
                retryable: false,
                retry_after_ms: 0,
            }));
            self.stopped = true;
            return;
        }
        if c.code == 4100 {
            self.need_fresh_token = true;
        }
        self.set_state(ConnectionState::Offline);
        if RECONNECT_NOW.contains(&c.code) && self.attempt == 0 {
            self.attempt = 1;
            return;
        }
        self.attempt += 1;
        let base = self
            .o
            .reconnect_delay
            .saturating_mul(2u32.saturating_pow(self.attempt.saturating_sub(1).min(16)))
            .min(self.o.reconnect_max_delay);
        // Between half and all of it: clients cut off together do not return together.
        let delay = base.mul_f64(0.5 + crate::ids::jitter() / 2.0);
        self.wait_offline(Instant::now() + delay).await;
    }

    /// Until `until`, answers the app as an offline client does.
    async fn wait_offline(&mut self, until: Instant) {
        loop {
            tokio::select! {
                () = sleep_until(until) => return,
                cmd = self.cmds.recv() => match cmd {
                    None | Some(Cmd::Close) => {
                        self.stopped = true;
                        return;
                    }
                    Some(cmd) => self.offline_command(cmd),
                },
            }
        }
    }
}
