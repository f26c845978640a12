//! No import circles among a crate's source files.
//!
//! Every source file of each crate in [`CRATES`] is parsed; each `use` of, and each path through,
//! `crate::`, `super::`, `self::` or a child module becomes an edge from the file to the file
//! that defines the item (re-exports are followed to their source, so a facade `mod.rs` that
//! re-exports its parts is no edge back from a part that imports through it; an item defined in
//! the facade itself is). Test-only code (`#[cfg(test)]` items and modules) is left out. A
//! strongly connected set of two or more files is a circle, and the test fails naming it with
//! the imports that close it.
//!
//! To cover another crate, add its directory to [`CRATES`]. [`KNOWN`] lists the circles that
//! were there when the check came in, in crates being reworked elsewhere: each may shrink or go
//! (then its entry must go too), none may grow, and no new one may appear.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use syn::{Attribute, Item, UseTree, visit::Visit};

/// The crates checked, as directories of the workspace.
const CRATES: &[&str] =
    &["snap-core", "gen", "hosts", "snap-store", "snap-tokio-adapter", "node", "tests", "benches"];

/// Circles known when the check came in: (crate directory, the files of the circle). The fix
/// is to move what a facade (`mod.rs`) defines and its parts use into a part of its own, so
/// the facade only re-exports and dispatches.
const KNOWN: &[(&str, &[&str])] = &[];

/// One module: a file, or an inline `mod name { .. }` within one.
#[derive(Debug)]
struct Module {
    path: Vec<String>,
    file: PathBuf,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    /// Imports by the name they bind (`*` for globs): the absolute path imported, or `None`
    /// for another crate's item.
    imports: Vec<(String, Option<Vec<String>>)>,
    /// Paths the module's non-test code refers to, absolute, with the text as written.
    references: Vec<(Vec<String>, String)>,
}

/// The module tree of one crate root (a library or a binary).
#[derive(Debug, Default)]
struct Tree {
    modules: Vec<Module>,
}

impl Tree {
    fn load(root: &Path) -> Result<Self, String> {
        let mut tree = Self::default();
        tree.add_file(root, Vec::new(), None)?;
        Ok(tree)
    }

    fn add_file(
        &mut self,
        file: &Path,
        path: Vec<String>,
        parent: Option<usize>,
    ) -> Result<usize, String> {
        let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let syntax = syn::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let id = self.push(file, path, parent);
        self.add_items(id, &syntax.items)?;
        Ok(id)
    }

    fn push(&mut self, file: &Path, path: Vec<String>, parent: Option<usize>) -> usize {
        let id = self.modules.len();
        if let (Some(parent), Some(name)) = (parent, path.last()) {
            self.modules[parent].children.insert(name.clone(), id);
        }
        self.modules.push(Module {
            path,
            file: file.to_path_buf(),
            parent,
            children: BTreeMap::new(),
            imports: Vec::new(),
            references: Vec::new(),
        });
        id
    }

    /// The directory a module's child files live in.
    fn child_dir(&self, id: usize) -> PathBuf {
        let module = &self.modules[id];
        let file = &module.file;
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        // Inline modules nest their files one directory deeper per level.
        let mut inline = Vec::new();
        let mut current = id;
        while let Some(parent) = self.modules[current].parent {
            if self.modules[parent].file != self.modules[current].file {
                break;
            }
            inline.push(self.modules[current].path.last().cloned().unwrap_or_default());
            current = parent;
        }
        let base =
            if ["lib", "main", "mod"].contains(&stem) || self.modules[current].parent.is_none() {
                dir
            } else {
                dir.join(stem)
            };
        inline.into_iter().rev().fold(base, |dir, name| dir.join(name))
    }

    fn add_items(&mut self, id: usize, items: &[Item]) -> Result<(), String> {
        for item in items {
            if is_test_only(item_attrs(item)) {
                continue;
            }
            match item {
                Item::Mod(module) => {
                    let mut path = self.modules[id].path.clone();
                    path.push(module.ident.to_string());
                    if let Some((_, items)) = &module.content {
                        let file = self.modules[id].file.clone();
                        let child = self.push(&file, path, Some(id));
                        self.add_items(child, items)?;
                    } else {
                        let dir = self.child_dir(id);
                        let name = module.ident.to_string();
                        let flat = dir.join(format!("{name}.rs"));
                        let nested = dir.join(&name).join("mod.rs");
                        let file = if flat.exists() { flat } else { nested };
                        self.add_file(&file, path, Some(id))?;
                    }
                }
                Item::Use(item) => {
                    let mut prefix = Vec::new();
                    self.collect_use(id, &item.tree, &mut prefix);
                }
                other => {
                    let mut collector = Paths { found: Vec::new(), uses: Vec::new() };
                    collector.visit_item(other);
                    for tree in collector.uses {
                        let mut prefix = Vec::new();
                        self.collect_use(id, &tree, &mut prefix);
                    }
                    for segments in collector.found {
                        self.refer(id, segments);
                    }
                }
            }
        }
        Ok(())
    }

    fn collect_use(&mut self, id: usize, tree: &UseTree, prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.collect_use(id, &path.tree, prefix);
                prefix.pop();
            }
            UseTree::Name(name) => {
                let mut full = prefix.clone();
                let ident = name.ident.to_string();
                let bound =
                    if ident == "self" { prefix.last().cloned() } else { Some(ident.clone()) };
                if ident != "self" {
                    full.push(ident);
                }
                self.import(id, bound, full);
            }
            UseTree::Rename(rename) => {
                let mut full = prefix.clone();
                if rename.ident != "self" {
                    full.push(rename.ident.to_string());
                }
                self.import(id, Some(rename.rename.to_string()), full);
            }
            UseTree::Glob(_) => self.import(id, Some("*".into()), prefix.clone()),
            UseTree::Group(group) => {
                for tree in &group.items {
                    self.collect_use(id, tree, prefix);
                }
            }
        }
    }

    fn import(&mut self, id: usize, bound: Option<String>, segments: Vec<String>) {
        let text = segments.join("::");
        let absolute = self.absolute(id, &segments);
        if let Some(bound) = bound {
            self.modules[id].imports.push((bound, absolute.clone()));
        }
        if let Some(absolute) = absolute {
            self.modules[id].references.push((absolute, text));
        }
    }

    fn refer(&mut self, id: usize, segments: Vec<String>) {
        let text = segments.join("::");
        if let Some(absolute) = self.absolute(id, &segments) {
            self.modules[id].references.push((absolute, text));
        }
    }

    /// The path from the crate root, if it names something of this crate.
    fn absolute(&self, id: usize, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.modules[id].path.clone(),
            "super" => {
                let mut module = self.modules[id].parent?;
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    module = self.modules[module].parent?;
                    rest = &rest[1..];
                }
                let mut path = self.modules[module].path.clone();
                path.extend(rest.iter().cloned());
                return Some(path);
            }
            name if self.modules[id].children.contains_key(name) => {
                let mut path = self.modules[id].path.clone();
                path.push(name.to_string());
                path
            }
            _ => return None,
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module whose file defines what `path` names, following re-exports (`None`: another
    /// crate's item, re-exported).
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        let mut module = 0;
        for (index, segment) in path.iter().enumerate() {
            if let Some(&child) = self.modules[module].children.get(segment) {
                module = child;
                continue;
            }
            if depth < 16 {
                let imported = self.modules[module]
                    .imports
                    .iter()
                    .find(|(bound, _)| bound == segment)
                    .map(|(_, target)| target);
                match imported {
                    Some(Some(target)) => {
                        let mut full = target.clone();
                        full.extend(path[index + 1..].iter().cloned());
                        return self.resolve(&full, depth + 1);
                    }
                    Some(None) => return None,
                    None => {}
                }
            }
            return Some(module);
        }
        Some(module)
    }
}

/// Paths written with `crate::`, `super::`, `self::` or a bare first segment, and `use` trees
/// nested in bodies, skipping test-only items.
struct Paths {
    found: Vec<Vec<String>>,
    uses: Vec<UseTree>,
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            self.found.push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item(&mut self, item: &'ast Item) {
        if is_test_only(item_attrs(item)) {
            return;
        }
        if let Item::Use(item) = item {
            self.uses.push(item.tree.clone());
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_impl_item_fn(self, item);
        }
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]`, alone.
fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr.parse_args::<syn::Ident>().is_ok_and(|ident| ident == "test")
    })
}

/// A file-level edge: `from` refers to something `to` defines.
type Edges = BTreeMap<(PathBuf, PathBuf), BTreeSet<String>>;

fn edges(tree: &Tree) -> Edges {
    let mut edges = Edges::new();
    for module in &tree.modules {
        for (path, text) in &module.references {
            let Some(target) = tree.resolve(path, 0) else { continue };
            let target = &tree.modules[target].file;
            if *target != module.file {
                edges
                    .entry((module.file.clone(), target.clone()))
                    .or_default()
                    .insert(text.clone());
            }
        }
    }
    edges
}

/// Strongly connected sets of two or more files (Tarjan).
fn circles(edges: &Edges) -> Vec<Vec<PathBuf>> {
    let mut nodes: BTreeSet<&PathBuf> = BTreeSet::new();
    for (from, to) in edges.keys() {
        nodes.insert(from);
        nodes.insert(to);
    }
    let nodes: Vec<&PathBuf> = nodes.into_iter().collect();
    let index_of: BTreeMap<&PathBuf, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut next = vec![Vec::new(); nodes.len()];
    for (from, to) in edges.keys() {
        next[index_of[from]].push(index_of[to]);
    }
    struct State {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(v: usize, next: &[Vec<usize>], s: &mut State) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &next[v] {
            match s.index[w] {
                None => {
                    visit(w, next, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        index: vec![None; nodes.len()],
        low: vec![0; nodes.len()],
        on_stack: vec![false; nodes.len()],
        stack: Vec::new(),
        counter: 0,
        found: Vec::new(),
    };
    for v in 0..nodes.len() {
        if state.index[v].is_none() {
            visit(v, &next, &mut state);
        }
    }
    state
        .found
        .into_iter()
        .map(|component| {
            let mut files: Vec<PathBuf> = component.into_iter().map(|i| nodes[i].clone()).collect();
            files.sort();
            files
        })
        .collect()
}

/// A circle: its files (relative to the crate) and a description with the imports closing it.
#[derive(Debug)]
struct Circle {
    files: Vec<String>,
    text: String,
}

/// The circles of one crate directory.
fn check_crate(dir: &Path) -> Result<Vec<Circle>, String> {
    let src = dir.join("src");
    let mut roots = vec![src.join("lib.rs"), src.join("main.rs")];
    if let Ok(bins) = fs::read_dir(src.join("bin")) {
        roots.extend(bins.filter_map(Result::ok).map(|entry| entry.path()));
    }
    let mut found = Vec::new();
    for root in roots.into_iter().filter(|root| root.is_file()) {
        let tree = Tree::load(&root)?;
        let edges = edges(&tree);
        for circle in circles(&edges) {
            let files =
                circle.iter().map(|f| f.strip_prefix(dir).unwrap_or(f).display().to_string());
            let files: Vec<String> = files.collect();
            let mut text = String::from("import circle among:");
            for file in &circle {
                let _ = write!(text, "\n  {}", file.strip_prefix(dir).unwrap_or(file).display());
            }
            for ((from, to), paths) in &edges {
                if circle.contains(from) && circle.contains(to) {
                    let short =
                        |p: &PathBuf| p.strip_prefix(dir).unwrap_or(p).display().to_string();
                    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
                    let _ = write!(
                        text,
                        "\n    {} -> {} ({})",
                        short(from),
                        short(to),
                        paths.join(", ")
                    );
                }
            }
            found.push(Circle { files, text });
        }
    }
    Ok(found)
}

#[test]
fn no_crate_has_an_import_circle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut report = Vec::new();
    let mut seen = vec![false; KNOWN.len()];
    for name in CRATES {
        let found = check_crate(&workspace.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for circle in found {
            let known = KNOWN.iter().position(|(known_crate, files)| {
                known_crate == name && circle.files.iter().all(|f| files.contains(&f.as_str()))
            });
            match known {
                Some(index) => seen[index] = true,
                None => report.push(format!("{name}: {}", circle.text)),
            }
        }
    }
    for ((name, files), seen) in KNOWN.iter().zip(seen) {
        if !seen {
            report.push(format!(
                "{name}: the known circle among {files:?} is gone: delete its entry"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// The checker finds a circle where there is one, through `super`, `crate` and a child module,
/// and none where a facade re-exports its parts.
#[test]
fn the_checker_sees_circles_and_follows_re_exports() {
    let dir = std::env::temp_dir().join(format!("import-cycles-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    // A facade re-exporting its parts, parts importing each other through it: no circle.
    write("src/lib.rs", "pub mod sync;\n");
    write(
        "src/sync/mod.rs",
        "mod a;\nmod b;\npub use a::A;\npub use b::B;\n#[cfg(test)]\nmod tests;\n",
    );
    write("src/sync/a.rs", "pub struct A;\n");
    write("src/sync/b.rs", "use super::A;\npub struct B(A);\n");
    write("src/sync/tests.rs", "use super::*;\n");
    assert!(check_crate(&dir).unwrap().is_empty());
    // An item defined in the facade that a part uses, while the facade uses the part: a circle.
    write("src/sync/mod.rs", "mod a;\nmod b;\npub use b::B;\npub struct Id;\n");
    write("src/sync/b.rs", "pub struct B(crate::sync::Id);\n");
    let found = check_crate(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].files, ["src/sync/b.rs", "src/sync/mod.rs"]);
    assert!(found[0].text.contains("src/sync/b.rs -> src/sync/mod.rs (crate::sync::Id)"));
    // Two parts importing each other directly: a circle; test-only code does not count.
    write("src/sync/mod.rs", "mod a;\nmod b;\n");
    write("src/sync/a.rs", "use super::b::B;\npub struct A(B);\n");
    write("src/sync/b.rs", "pub struct B;\nfn f() { let _ = super::a::A; }\n");
    assert_eq!(check_crate(&dir).unwrap().len(), 1);
    write("src/sync/b.rs", "pub struct B;\n#[cfg(test)]\nfn f() { let _ = super::a::A; }\n");
    assert!(check_crate(&dir).unwrap().is_empty());
    // A name another crate defines, re-exported by the facade, is no edge to the facade.
    write("src/sync/mod.rs", "mod a;\npub use a::A;\npub use std::vec::Vec;\n");
    write("src/sync/a.rs", "pub struct A(super::Vec<u8>);\n");
    assert!(check_crate(&dir).unwrap().is_empty());
    let _ = fs::remove_dir_all(&dir);
}
