//! What a function loads from a manifest: its rules or its transforms.

use orderflow_host::artifact::Offer;
use orderflow_host::manifest::Chain;
use orderflow_host::{
    LoadError, LoadedManifest, Manifest, PluginInfo, PluginSpec, RuleSet, Runtime, TransformChain,
};

/// What a function loads from a manifest: its rules or its transforms.
pub trait PluginSet: Send + Sync + Sized + 'static {
    /// `rules` or `transforms`, for logs.
    const KIND: &'static str;
    /// Which chain of a manifest it is.
    const CHAIN: Chain;
    /// Whether a manifest's `shadow` applies: rules decide, so a candidate
    /// can be compared with them; transforms decide nothing.
    const SHADOWS: bool = false;
    fn specs(manifest: &Manifest) -> &[PluginSpec];
    fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
        artifact: &dyn Fn(&PluginSpec) -> Option<Offer>,
    ) -> Result<Self, LoadError>;
    fn plugins(&self) -> &[PluginInfo];
}

impl PluginSet for RuleSet {
    const KIND: &'static str = "rules";
    const CHAIN: Chain = Chain::Rules;
    const SHADOWS: bool = true;
    fn specs(manifest: &Manifest) -> &[PluginSpec] {
        &manifest.rules
    }
    fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
        artifact: &dyn Fn(&PluginSpec) -> Option<Offer>,
    ) -> Result<Self, LoadError> {
        RuleSet::load_offered(runtime, manifest, wasm, artifact)
    }
    fn plugins(&self) -> &[PluginInfo] {
        &self.loaded
    }
}

impl PluginSet for TransformChain {
    const KIND: &'static str = "transforms";
    const CHAIN: Chain = Chain::Transforms;
    fn specs(manifest: &Manifest) -> &[PluginSpec] {
        &manifest.transforms
    }
    fn load(
        runtime: &Runtime,
        manifest: &LoadedManifest,
        wasm: &dyn Fn(&PluginSpec) -> Result<Vec<u8>, LoadError>,
        artifact: &dyn Fn(&PluginSpec) -> Option<Offer>,
    ) -> Result<Self, LoadError> {
        TransformChain::load_offered(runtime, manifest, wasm, artifact)
    }
    fn plugins(&self) -> &[PluginInfo] {
        &self.loaded
    }
}
