//! The `backup` command. All work happens in the library; `cli` parses
//! arguments, prints, and maps errors to exit codes (docs/exit-codes.md).

mod cli;

/// mimalloc: the save pipeline frees on one thread what another allocated
/// (walker → assembler → pool); glibc's malloc makes the no-change save
/// twice as slow (docs/performance.md). Built with arenas committed on
/// demand (see .cargo/config.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
