import CVireoKernels

/// Number arrays in JSON text as Floats: the inner loop of a REST insert, whose body is mostly vectors
/// printed as text (see `vk_json_floats` in CVireoKernels/json_numbers.c).
public enum JSONFloats {
    /// The JSON array of numbers starting at `bytes[start]` (`[`), as Floats, and the index just past
    /// its `]`. Numbers of at most 19 significant digits whose decimal exponent stays within ±22 are
    /// rounded to Double exactly (Clinger's fast path) and then to Float, here; any other element is
    /// handed to `element`, which parses it from its index (returning the Float and the index after
    /// it) or returns nil when it is not a number.
    ///
    /// - Returns: nil when an element is not a number, the array has more than `capacity` elements, or
    ///   is malformed: the caller's general parser then reads it and reports what is wrong.
    public static func array(_ bytes: [UInt8], at start: Int, capacity: Int,
                             element: (Int) -> (value: Float, end: Int)?) -> (values: [Float], end: Int)? {
        guard start >= 0, start < bytes.count, capacity >= 0 else { return nil }
        var position = start
        var complete = false
        let values = [Float](unsafeUninitializedCapacity: capacity) { out, initialized in
            var count = 0
            var afterValue: Int32 = 0
            bytes.withUnsafeBufferPointer { b in
                while true {
                    // SAFETY: the kernel reads only b[position ..< b.count] and writes floats only to
                    // out[count ..< capacity]; `count` says how many of `out` are written.
                    let status = vk_json_floats(b.baseAddress, b.count, &position, afterValue, out.baseAddress, capacity, &count)
                    if status == VK_JSON_END { complete = true; return }
                    guard status == VK_JSON_NUMBER, count < capacity, let (value, end) = element(position) else { return }
                    out[count] = value
                    count += 1
                    position = end
                    afterValue = 1
                }
            }
            initialized = complete ? count : 0
        }
        return complete ? (values, position) : nil
    }
}
