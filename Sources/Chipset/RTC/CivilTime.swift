/// A proleptic-Gregorian UTC date and time, converted to and from Unix seconds with
/// Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms
/// (https://howardhinnant.github.io/date_algorithms.html), which are exact for any year.
struct CivilTime: Equatable, Sendable {
    var year: Int
    var month: Int  // 1...12
    var day: Int  // 1...31
    var hour: Int  // 0...23
    var minute: Int
    var second: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    init(unixSeconds: Int64) {
        let seconds = Int(unixSeconds)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = CivilTime.civil(fromDays: days)
        self.init(
            year: y, month: m, day: d, hour: secondOfDay / 3600, minute: (secondOfDay / 60) % 60,
            second: secondOfDay % 60)
    }

    var unixSeconds: Int64 {
        Int64(CivilTime.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second)
    }

    /// Day of the week as the MC146818 counts it: 1 = Sunday ... 7 = Saturday.
    var weekday: Int {
        let days = CivilTime.days(year: year, month: month, day: day)
        let sinceSunday = ((days + 4) % 7 + 7) % 7  // 1970-01-01 was a Thursday
        return sinceSunday + 1
    }

    /// Days since 1970-01-01.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
