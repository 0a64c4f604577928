//! Integration tests: real nodes on port 0, real clients, the public protocol only.
#![allow(clippy::unwrap_used, missing_docs)]

mod access;
mod auth;
mod backpressure;
mod bad_input;
mod chat;
mod cluster;
mod common;
mod cql;
mod durability;
mod files;
mod friends;
mod grpc;
mod helm;
mod http_api;
mod limits;
mod messenger;
mod revocation;
mod rooms;
mod sdk;
mod web;
