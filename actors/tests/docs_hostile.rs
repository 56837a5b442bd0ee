//! Hostile READMEs: huge, without whitespace, deeply nested, or many at once. Each
//! test is named after the attack; each asserts the answer came, is bounded and says
//! what it left out (never a hang, a crash or an answer as big as the input).

mod common;

use common::*;
use sentinel_actors::upstream::{ProjectDoc, pypi};
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::docs::{
    DocSummary, MAX_README_BYTES, MAX_SUMMARY_BYTES, PackageDocs, tokens,
};
use sentinel_actors::{EngineHandle, MAX_CONTEXT_DEPS};

/// An engine whose questions have the product's default deadline: the view work runs
/// unoptimised in tests.
async fn engine_with_deadline() -> (sentinel_sim::SimHandle, EngineHandle) {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.timeouts.deadline_ms = 15_000;
    cfg.timeouts.attempt_ms = 10_000;
    let engine = engine_with(cfg).await;
    (sim, engine)
}

fn project(description: &str, content_type: Option<&str>) -> ProjectDoc {
    let body = serde_json::json!({
        "info": {
            "name": "hostile",
            "version": "1.0",
            "summary": "A package.",
            "description": description,
            "description_content_type": content_type,
        },
    });
    pypi::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

// ---- through the engine, against the simulator's hostile projects ---------------------

#[tokio::test]
async fn a_20_mb_readme_without_whitespace_answers_within_the_deadline_with_a_bounded_answer() {
    let (_sim, engine) = engine_with_deadline().await;
    let d = engine
        .package_docs("sg-huge-readme", None, 4000)
        .await
        .expect("an answer, within the deadline");
    let v = &d.value;
    assert!(v.tokens <= 4000, "{}", v.tokens);
    assert_eq!(v.tokens, tokens::count(&v.markdown));
    assert!(v.markdown.len() < 64 * 1024, "{} bytes", v.markdown.len());
    assert!(v.bytes_not_read > 19_000_000, "{}", v.bytes_not_read);
    // It shows the README's beginning, and says what it left out.
    assert!(
        v.markdown.contains("Not a real project"),
        "{}",
        &v.markdown[..200]
    );
    assert!(
        v.markdown.contains("bytes not read"),
        "{}",
        marker(&v.markdown)
    );
    assert!(v.markdown.contains("cut short"), "{}", marker(&v.markdown));
    // Asked again, the same answer (kept, not rendered again).
    let again = engine
        .package_docs("sg-huge-readme", None, 4000)
        .await
        .unwrap();
    assert_eq!(again.value, d.value);
    engine.shutdown().await;
}

fn marker(md: &str) -> &str {
    md.lines().last().unwrap_or("")
}

#[tokio::test]
async fn two_concurrent_20_mb_readme_calls_both_answer_beside_a_cached_question() {
    let (_sim, engine) = engine_with_deadline().await;
    engine.package_info("sg-idna", None).await.unwrap();
    let (a, b, info) = tokio::join!(
        engine.package_docs("sg-huge-readme", None, 2000),
        engine.package_docs("sg-huge-readme", None, 3000),
        engine.package_info("sg-idna", None),
    );
    assert!(a.unwrap().value.tokens <= 2000);
    assert!(b.unwrap().value.tokens <= 3000);
    assert_eq!(info.unwrap().value.name, "sg-idna");
    engine.shutdown().await;
}

#[tokio::test]
async fn thirty_dependencies_with_2_mb_readmes_answer_within_the_deadline() {
    let (_sim, engine) = engine_with_deadline().await;
    let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
    let r = engine
        .package_docs_with_context("sg-readme-hub", None, &env, 32_000)
        .await
        .expect("an answer, within the deadline");
    let deps = &r.dependencies;
    assert!(deps.failures.is_empty(), "{:?}", deps.failures);
    assert_eq!(deps.items.len(), MAX_CONTEXT_DEPS);
    assert!(r.tokens <= 32_000, "{}", r.tokens);
    let used: usize = deps.items.iter().map(|d| d.value.tokens).sum();
    assert!(used <= r.dependency_budget);
    for d in &deps.items {
        let v = &d.value;
        assert!(v.package.starts_with("sg-readme-"), "{}", v.package);
        assert!(v.tokens <= v.share_tokens, "{v:?}");
        assert!(v.text.len() <= MAX_SUMMARY_BYTES + 4096, "{}", v.text.len());
        assert!(v.text.contains("Not a real project"), "{}", v.text);
    }
    assert_eq!(r.tokens, r.docs.value.tokens + used);
    engine.shutdown().await;
}

// ---- the view, on generated input ------------------------------------------------------

#[test]
fn a_readme_past_512_kib_is_read_to_there_and_the_answer_says_the_rest_was_not() {
    let para = "Install with pip and read the guide before you start.\n\n";
    let text = para.repeat(3 * MAX_README_BYTES / para.len());
    for ct in [Some("text/markdown"), None, Some("text/plain")] {
        let d = PackageDocs::from_project(&project(&text, ct), 1000);
        assert!(d.tokens <= 1000, "{ct:?}: {}", d.tokens);
        assert!(d.bytes_not_read >= text.len() - MAX_README_BYTES, "{ct:?}");
        assert!(
            d.bytes_not_read < text.len() - MAX_README_BYTES / 2,
            "{ct:?}"
        );
        assert!(marker(&d.markdown).contains("bytes not read"), "{ct:?}");
        // Counted over what was read, not over the whole.
        assert!(d.total_tokens < tokens::count(&text) / 2, "{ct:?}");
    }
    let small = PackageDocs::from_project(&project(para, None), 1000);
    assert_eq!(small.bytes_not_read, 0);
    assert!(!small.markdown.contains("not read"));
}

#[test]
fn a_readme_nested_100000_deep_renders_without_overflowing_the_stack() {
    let depth = 100_000;
    let inputs = [
        // Blockquotes and list items nested on one line and over many lines.
        ("> ".repeat(depth) + "deep", Some("text/markdown")),
        (
            (0..20_000)
                .map(|i| format!("{}- item\n", "  ".repeat(i % 300)))
                .collect(),
            Some("text/markdown"),
        ),
        // Inline markup nested: emphasis, links, images.
        (
            "*_".repeat(depth) + "x" + &"_*".repeat(depth),
            Some("text/markdown"),
        ),
        (
            "[".repeat(depth) + "x" + &"](u)".repeat(depth),
            Some("text/markdown"),
        ),
        // reStructuredText: directives inside directives, quotes inside quotes.
        (
            (0..5_000)
                .map(|i| format!("{}.. note:: level {i}\n\n", "   ".repeat(i % 500)))
                .collect(),
            None,
        ),
        ("`".repeat(depth) + &":a:".repeat(depth), None),
        ("|".repeat(depth) + &"``".repeat(depth), None),
    ];
    for (text, ct) in inputs {
        let d = PackageDocs::from_project(&project(&text, ct), 500);
        assert!(d.tokens <= 500, "{ct:?}: {}", d.tokens);
        assert!(!d.markdown.is_empty(), "{ct:?}: shows something");
    }
}

#[test]
fn a_line_of_half_a_million_role_colons_in_rst_is_read_in_one_pass() {
    // Each colon once started a scan to the end of the line: quadratic, minutes.
    let text = ":a ".repeat(MAX_README_BYTES / 3) + ":`x`";
    let d = PackageDocs::from_project(&project(&text, None), 300);
    assert!(d.tokens <= 300);
    let d = PackageDocs::from_project(&project(&"a:b ".repeat(100_000), None), 300);
    assert!(d.tokens <= 300);
}

#[test]
fn a_dependency_with_a_20_mb_readme_and_summary_is_summarised_from_their_beginnings() {
    let mut p = project(
        &format!(
            "An opening paragraph of at least five words.\n\n{}",
            "z".repeat(20 << 20)
        ),
        Some("text/markdown"),
    );
    p.info.summary = Some("s".repeat(20 << 20));
    let s = DocSummary::from_project(&p);
    assert!(s.text.len() < 8 * 1024, "{}", s.text.len());
    assert!(
        s.text.contains("An opening paragraph"),
        "{}",
        &s.text[..100]
    );
    let d = PackageDocs::from_project(&p, 200);
    assert!(d.summary.unwrap().len() < 4096);
}
