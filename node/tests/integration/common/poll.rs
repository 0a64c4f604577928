//! A long-polling client.

use super::*;

/// A long-polling client.
pub struct PollClient {
    base: String,
    client: reqwest::Client,
    token: String,
    pub session: String,
    pub cursor: String,
    next_id: u32,
    /// Frames polled but not consumed yet.
    pending: VecDeque<ServerFrame>,
}

impl PollClient {
    pub async fn open(addr: SocketAddr, token: &str) -> Self {
        let client = http_client();
        let base = format!("http://{addr}");
        let r = client
            .post(format!("{base}/v1/poll/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let body: Value = r.json().await.unwrap();
        let mut c = Self {
            base,
            client,
            token: token.into(),
            session: body["session_id"].as_str().unwrap().into(),
            cursor: body["cursor"].as_str().unwrap().into(),
            next_id: 0,
            pending: VecDeque::new(),
        };
        let first = c.next_frame().await;
        assert!(
            matches!(first.payload, Some(Payload::Authenticated(_))),
            "{first:?}"
        );
        c
    }

    /// One raw poll: (status, body).
    pub async fn poll_raw(&self, token: &str, cursor: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}/v1/poll?cursor={cursor}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The next frame, polling as needed.
    pub async fn next_frame(&mut self) -> ServerFrame {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(f) = self.pending.pop_front() {
                return f;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no event arrived by long poll"
            );
            let (status, body) = self.poll_raw(&self.token, &self.cursor).await;
            assert_eq!(status, 200, "{body}");
            let batch: v1::PollBatch = serde_json::from_value(body).unwrap();
            self.cursor = batch.cursor;
            self.pending.extend(batch.events);
        }
    }

    /// Sends a command; its reply arrives in the stream.
    pub async fn send(&mut self, command: Command) -> u32 {
        self.next_id += 1;
        let frame = ClientFrame {
            request_id: self.next_id,
            command: Some(command),
        };
        let r = self
            .client
            .post(format!("{}/v1/poll/{}/commands", self.base, self.session))
            .bearer_auth(&self.token)
            .body(serde_json::to_string(&frame).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        self.next_id
    }

    /// Sends a command and waits for its reply (events before it are kept).
    pub async fn call(&mut self, command: Command) -> Payload {
        let id = self.send(command).await;
        let mut kept = VecDeque::new();
        loop {
            let f = self.next_frame().await;
            if f.request_id == id {
                kept.extend(self.pending.drain(..));
                self.pending = kept;
                return f.payload.unwrap();
            }
            kept.push_back(f);
        }
    }

    /// The next event `pick` accepts, skipping others.
    pub async fn next_where<T>(&mut self, pick: impl Fn(Payload) -> Option<T>) -> T {
        loop {
            let f = self.next_frame().await;
            if f.request_id == 0
                && let Some(p) = f.payload
                && let Some(t) = pick(p)
            {
                return t;
            }
        }
    }
}
