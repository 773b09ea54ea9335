package ura

allow := true
