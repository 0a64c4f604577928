//! A WebSocket client of the socket protocol, in either codec.

use super::*;

/// Which subprotocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Json,
    Proto,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking the chat protocol.
pub struct Client {
    ws: Ws,
    wire: Wire,
    next_id: u32,
    /// Events (request id 0) received while waiting for replies.
    events: VecDeque<ServerFrame>,
    /// The close frame, once received.
    pub closed: Option<(u16, String)>,
}

impl Client {
    /// Connects and authenticates with the token in the URL.
    pub async fn connect(addr: SocketAddr, token: &str, wire: Wire) -> Self {
        let mut c = Self::connect_raw(addr, Some(token), wire).await;
        let auth = c.next_frame().await.expect("authenticated frame");
        assert!(
            matches!(auth.payload, Some(Payload::Authenticated(_))),
            "{auth:?}"
        );
        c
    }

    /// Connects and authenticates; `None` if the node is not there (any more) or refuses.
    pub async fn try_connect(addr: SocketAddr, token: &str, wire: Wire) -> Option<Self> {
        let url = format!("ws://{addr}/v1/ws?access_token={token}");
        let mut request = url.into_client_request().ok()?;
        let protocol = match wire {
            Wire::Json => "chat.v1.json",
            Wire::Proto => "chat.v1.proto",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .ok()?;
        let mut c = Self {
            ws,
            wire,
            next_id: 0,
            events: VecDeque::new(),
            closed: None,
        };
        match c.next_frame().await?.payload {
            Some(Payload::Authenticated(_)) => Some(c),
            _ => None,
        }
    }

    /// Connects without waiting for anything.
    pub async fn connect_raw(addr: SocketAddr, token: Option<&str>, wire: Wire) -> Self {
        let url = match token {
            Some(t) => format!("ws://{addr}/v1/ws?access_token={t}"),
            None => format!("ws://{addr}/v1/ws"),
        };
        let mut request = url.into_client_request().unwrap();
        let protocol = match wire {
            Wire::Json => "chat.v1.json",
            Wire::Proto => "chat.v1.proto",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        let (ws, response) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("sec-websocket-protocol").unwrap(),
            protocol
        );
        Self {
            ws,
            wire,
            next_id: 0,
            events: VecDeque::new(),
            closed: None,
        }
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// Sends a command with a fresh request id; returns the id.
    pub async fn send(&mut self, command: Command) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        self.send_frame(ClientFrame {
            request_id: id,
            command: Some(command),
        })
        .await;
        id
    }

    pub async fn send_frame(&mut self, frame: ClientFrame) {
        let message = match self.wire {
            Wire::Json => Message::Text(serde_json::to_string(&frame).unwrap().into()),
            Wire::Proto => Message::Binary(frame.encode_to_vec().into()),
        };
        self.send_raw(message).await;
    }

    /// The next frame from the server, or None when the socket closed.
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match message {
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(self.wire, Wire::Json, "text frame on a proto socket");
                    return Some(serde_json::from_str(&t).unwrap());
                }
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(self.wire, Wire::Proto, "binary frame on a json socket");
                    return Some(ServerFrame::decode(b.as_ref()).unwrap());
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Waits for the reply to `request_id`, keeping events for later.
    pub async fn reply(&mut self, request_id: u32) -> Payload {
        loop {
            let frame = self
                .next_frame()
                .await
                .expect("socket closed while waiting for a reply");
            if frame.request_id == request_id {
                return frame.payload.expect("reply without payload");
            }
            assert_eq!(
                frame.request_id, 0,
                "reply to an unexpected request: {frame:?}"
            );
            self.events.push_back(frame);
        }
    }

    /// Sends a command and waits for its reply.
    pub async fn call(&mut self, command: Command) -> Payload {
        let id = self.send(command).await;
        self.reply(id).await
    }

    /// The next event (request id 0).
    pub async fn next_event(&mut self) -> ServerFrame {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        let frame = self
            .next_frame()
            .await
            .expect("socket closed while waiting for an event");
        assert_eq!(frame.request_id, 0, "unexpected reply {frame:?}");
        frame
    }

    /// The next frame in arrival order: buffered events first, then the socket.
    pub async fn next_any(&mut self) -> ServerFrame {
        match self.events.pop_front() {
            Some(f) => f,
            None => self.next_frame().await.expect("socket closed"),
        }
    }

    /// An event already received, if any (never waits).
    pub fn events_pop(&mut self) -> Option<ServerFrame> {
        self.events.pop_front()
    }

    /// The next event that `pick` accepts, skipping others.
    pub async fn next_where<T>(&mut self, pick: impl Fn(Payload) -> Option<T>) -> T {
        loop {
            if let Some(p) = self.next_event().await.payload
                && let Some(t) = pick(p)
            {
                return t;
            }
        }
    }

    /// The next live chat message event, skipping other events and system entries.
    pub async fn next_message(&mut self) -> v1::Message {
        loop {
            if let Some(Payload::Message(m)) = self.next_event().await.payload
                && m.kind != v1::MessageKind::System as i32
            {
                return m;
            }
        }
    }

    /// The next system entry (who joined, left, was removed; renames, hand-overs).
    pub async fn next_system(&mut self) -> (v1::Message, v1::SystemEvent) {
        loop {
            if let Some(Payload::Message(m)) = self.next_event().await.payload
                && let Some(event) = m.system.clone()
            {
                return (m, event);
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed_code(&mut self) -> Option<u16> {
        while self.next_frame().await.is_some() {}
        self.closed.as_ref().map(|c| c.0)
    }

    // Command helpers: each asserts success and returns the useful part.

    pub async fn create_group(&mut self, name: &str, members: &[u64]) -> v1::Room {
        match self
            .call(Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
                name: name.into(),
                member_ids: members.to_vec(),
                ..Default::default()
            }))
            .await
        {
            Payload::Room(r) => r,
            other => panic!("create group failed: {other:?}"),
        }
    }

    pub async fn create_direct(&mut self, peer: u64) -> v1::Room {
        match self
            .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
                peer_id: peer,
            }))
            .await
        {
            Payload::Room(r) => r,
            other => panic!("create direct failed: {other:?}"),
        }
    }

    pub async fn open(&mut self, room: u64) -> v1::Room {
        match self
            .call(Command::OpenRoom(v1::OpenRoomRequest {
                room_id: room,
                since_seq: 0,
            }))
            .await
        {
            Payload::RoomOpened(o) => o.room.unwrap(),
            other => panic!("open failed: {other:?}"),
        }
    }

    pub async fn say(&mut self, room: u64, client_msg_id: &str, body: &str) -> Payload {
        self.call(send_cmd(room, client_msg_id, body)).await
    }

    pub async fn say_ok(&mut self, room: u64, client_msg_id: &str, body: &str) -> v1::SendAck {
        match self.say(room, client_msg_id, body).await {
            Payload::SendAck(a) => a,
            other => panic!("send failed: {other:?}"),
        }
    }

    pub async fn history(&mut self, room: u64, before: u64, limit: u32) -> Payload {
        self.call(Command::GetHistory(v1::GetHistoryRequest {
            room_id: room,
            before_seq: before,
            limit,
        }))
        .await
    }

    pub async fn history_ok(&mut self, room: u64, before: u64, limit: u32) -> v1::History {
        match self.history(room, before, limit).await {
            Payload::History(h) => h,
            other => panic!("history failed: {other:?}"),
        }
    }

    /// Every message of a room, oldest first, by paging history backwards.
    pub async fn all_messages(&mut self, room: u64) -> Vec<v1::Message> {
        let mut all = Vec::new();
        let mut before = 0;
        loop {
            let page = self.history_ok(room, before, 100).await;
            let Some(last) = page.messages.last() else {
                break;
            };
            before = last.seq;
            let more = page.has_more;
            all.extend(page.messages);
            if !more {
                break;
            }
        }
        all.reverse();
        all
    }
}
