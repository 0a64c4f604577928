//! The unary services. Each RPC is one socket command run through the same code
//! (`chat_actors::connection::unary`), so rules and error reasons are identical.

use chat_proto::v1::{
    self, AuthTokens, ChangePasswordRequest, Empty, LoginRequest, LogoutEverywhereRequest,
    LogoutEverywhereResponse, LogoutRequest, RefreshRequest, SignupRequest,
    auth_service_server::AuthService, client_frame::Command,
    message_service_server::MessageService, room_service_server::RoomService,
    server_frame::Payload, user_service_server::UserService,
};
use tonic::{Request, Response, Status};

use super::{GrpcApi, bearer, peer_ip, status, within_deadline};
use crate::respond::tokens;

impl GrpcApi {
    /// Runs one command for the caller and takes the expected reply out of it.
    pub(super) async fn run<T>(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        command: Command,
        pick: impl FnOnce(Payload) -> Option<T>,
    ) -> Result<Response<T>, Status> {
        within_deadline(metadata, async {
            let user = self.user(metadata).await?;
            let payload = chat_actors::connection::unary(&self.g.services, &user, command)
                .await
                .map_err(status)?;
            pick(payload)
                .map(Response::new)
                .ok_or_else(|| Status::internal("unexpected reply"))
        })
        .await
    }
}

/// Implements a service whose RPCs each map one request type (carried by the frame's
/// command of that name) to one reply payload.
macro_rules! service {
    ($service:ident { $($method:ident($command:ident: $req:ident) -> $reply:ident = $payload:ident;)* }) => {
        #[tonic::async_trait]
        impl $service for GrpcApi {
            $(
                async fn $method(
                    &self,
                    request: Request<v1::$req>,
                ) -> Result<Response<v1::$reply>, Status> {
                    let (metadata, _, message) = request.into_parts();
                    self.run(&metadata, Command::$command(message), |p| match p {
                        Payload::$payload(r) => Some(r),
                        _ => None,
                    })
                    .await
                }
            )*
        }
    };
}

service!(UserService {
    get_user(GetUser: GetUserRequest) -> User = User;
    update_profile(UpdateProfile: UpdateProfileRequest) -> User = User;
    search_users(SearchUsers: SearchUsersRequest) -> UserList = UserList;
    list_friends(ListFriends: ListFriendsRequest) -> Friends = Friends;
    send_friend_request(SendFriendRequest: SendFriendRequestRequest) -> Ok = Ok;
    accept_friend_request(AcceptFriendRequest: AcceptFriendRequestRequest) -> Ok = Ok;
    decline_friend_request(DeclineFriendRequest: DeclineFriendRequestRequest) -> Ok = Ok;
    cancel_friend_request(CancelFriendRequest: CancelFriendRequestRequest) -> Ok = Ok;
    remove_friend(RemoveFriend: RemoveFriendRequest) -> Ok = Ok;
    block_user(BlockUser: BlockUserRequest) -> Ok = Ok;
    unblock_user(UnblockUser: UnblockUserRequest) -> Ok = Ok;
});

service!(RoomService {
    create_direct_room(CreateDirectRoom: CreateDirectRoomRequest) -> Room = Room;
    create_group_room(CreateGroupRoom: CreateGroupRoomRequest) -> Room = Room;
    invite_members(InviteMembers: InviteMembersRequest) -> Room = Room;
    leave_room(LeaveRoom: LeaveRoomRequest) -> Ok = Ok;
    set_room_muted(SetRoomMuted: SetRoomMutedRequest) -> Ok = Ok;
    rename_room(RenameRoom: RenameRoomRequest) -> Room = Room;
    remove_member(RemoveMember: RemoveMemberRequest) -> Room = Room;
    transfer_ownership(TransferOwnership: TransferOwnershipRequest) -> Room = Room;
    set_history_visibility(SetHistoryVisibility: SetHistoryVisibilityRequest) -> Room = Room;
    set_room_permissions(SetRoomPermissions: SetRoomPermissionsRequest) -> Room = Room;
    set_notice(SetNotice: SetNoticeRequest) -> Room = Room;
    pin_message(PinMessage: PinMessageRequest) -> Ok = Ok;
    unpin_message(UnpinMessage: UnpinMessageRequest) -> Ok = Ok;
    list_pins(ListPins: ListPinsRequest) -> PinnedMessages = PinnedMessages;
    list_rooms(ListRooms: ListRoomsRequest) -> RoomList = RoomList;
    get_unread_total(GetUnreadTotal: GetUnreadTotalRequest) -> UnreadTotal = UnreadTotal;
});

service!(MessageService {
    send_message(SendMessage: SendMessageRequest) -> SendAck = SendAck;
    edit_message(EditMessage: EditMessageRequest) -> SendAck = SendAck;
    delete_message(DeleteMessage: DeleteMessageRequest) -> SendAck = SendAck;
    forward_message(ForwardMessage: ForwardMessageRequest) -> SendAck = SendAck;
    search_messages(SearchMessages: SearchMessagesRequest) -> SearchResults = SearchResults;
    add_reaction(AddReaction: AddReactionRequest) -> SendAck = SendAck;
    remove_reaction(RemoveReaction: RemoveReactionRequest) -> SendAck = SendAck;
    list_reactions(ListReactions: ListReactionsRequest) -> ReactionUsers = ReactionUsers;
    hide_message(HideMessage: HideMessageRequest) -> Ok = Ok;
    get_message_versions(GetMessageVersions: GetMessageVersionsRequest) -> MessageVersions = MessageVersions;
    get_history(GetHistory: GetHistoryRequest) -> History = History;
    mark_read(MarkRead: MarkReadRequest) -> Ok = Ok;
    typing(Typing: TypingRequest) -> Ok = Ok;
});

#[tonic::async_trait]
impl AuthService for GrpcApi {
    async fn signup(&self, r: Request<SignupRequest>) -> Result<Response<AuthTokens>, Status> {
        let (metadata, extensions, r) = r.into_parts();
        let auth = &self.g.services.auth;
        within_deadline(&metadata, async {
            let issued = auth
                .signup(
                    peer_ip(&extensions),
                    &r.username,
                    &r.display_name,
                    &r.password,
                )
                .await
                .map_err(status)?;
            Ok(Response::new(tokens(issued)))
        })
        .await
    }

    async fn login(&self, r: Request<LoginRequest>) -> Result<Response<AuthTokens>, Status> {
        let (metadata, extensions, r) = r.into_parts();
        let auth = &self.g.services.auth;
        within_deadline(&metadata, async {
            let issued = auth
                .login(peer_ip(&extensions), &r.username, &r.password)
                .await
                .map_err(status)?;
            Ok(Response::new(tokens(issued)))
        })
        .await
    }

    async fn refresh(&self, r: Request<RefreshRequest>) -> Result<Response<AuthTokens>, Status> {
        let (metadata, _, r) = r.into_parts();
        let auth = &self.g.services.auth;
        within_deadline(&metadata, async {
            let issued = auth.refresh(&r.refresh_token).await.map_err(status)?;
            Ok(Response::new(tokens(issued)))
        })
        .await
    }

    async fn logout(&self, r: Request<LogoutRequest>) -> Result<Response<Empty>, Status> {
        let (metadata, _, r) = r.into_parts();
        let auth = &self.g.services.auth;
        within_deadline(&metadata, async {
            auth.logout(&r.refresh_token).await.map_err(status)?;
            Ok(Response::new(Empty {}))
        })
        .await
    }

    async fn logout_everywhere(
        &self,
        r: Request<LogoutEverywhereRequest>,
    ) -> Result<Response<LogoutEverywhereResponse>, Status> {
        let (metadata, _, _) = r.into_parts();
        let auth = &self.g.services.auth;
        within_deadline(&metadata, async {
            let ended = auth
                .logout_everywhere(bearer(&metadata))
                .await
                .map_err(status)?;
            Ok(Response::new(LogoutEverywhereResponse {
                sessions_ended: u32::try_from(ended).unwrap_or(u32::MAX),
            }))
        })
        .await
    }

    async fn change_password(
        &self,
        r: Request<ChangePasswordRequest>,
    ) -> Result<Response<Empty>, Status> {
        let (metadata, _, r) = r.into_parts();
        let auth = &self.g.services.auth;
        within_deadline(&metadata, async {
            auth.change_password(bearer(&metadata), &r.current_password, &r.new_password)
                .await
                .map_err(status)?;
            Ok(Response::new(Empty {}))
        })
        .await
    }
}
