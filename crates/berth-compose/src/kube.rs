//! Kubernetes export (below).
use crate::model::Project;
pub struct Objects {
    pub warnings: Vec<String>,
}
impl Objects {
    pub fn files(&self) -> Vec<(String, String)> {
        vec![]
    }
    pub fn stream(&self) -> String {
        String::new()
    }
}
pub fn export(_p: &Project) -> Result<Objects, crate::Error> {
    Err(crate::Error::Other("not yet".into()))
}
