//! Agent workspaces: the skills agents load and the memory they keep.

mod code_rules;
mod patterns;
