package kafka

// SanitizeTopic and CheckTopic expose topic name handling to tests.
var (
	SanitizeTopic = sanitizeTopic
	CheckTopic    = checkTopic
)
