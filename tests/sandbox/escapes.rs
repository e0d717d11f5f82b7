//! Escape attempts, counted: each tries to write outside the root, reach the network, or
//! touch a process outside; none may succeed.
