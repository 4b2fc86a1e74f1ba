extension SearchHit {
    /// A hit built outside the engine: servers fuse several searches (hybrid search) into new hits.
    public init(_ id: PrimaryKey, score: Float, fields: Row) {
        self.id = id
        self.score = score
        self.fields = fields
    }
}
